package fusebpf

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
)

// fileOps are the operations on open files a policy may filter.
var fileOps = []policy.Op{policy.OpReadIter, policy.OpWriteIter, policy.OpFlush, policy.OpFsync,
	policy.OpRelease, policy.OpLseek, policy.OpFileFallocate}

// wrapFile puts an open file under the policy's file callbacks, when it
// has any.
func (n *node) wrapFile(fh fs.FileHandle) fs.FileHandle {
	fst := n.root.filter
	if fh == nil || fst == nil {
		return fh
	}
	for _, op := range fileOps {
		if fst.active(op) {
			return &filteredFile{file: fh.(*file), fst: fst, nodeID: n.nodeID()}
		}
	}
	return fh
}

// filteredFile runs the file callbacks around an open file. Its data never
// goes through passthrough (see PassthroughFd), so read and write reach it.
type filteredFile struct {
	*file
	fst    *filterState
	nodeID uint64 // of the inode the file was opened on
}

// PassthroughFd refuses passthrough when read or write is filtered.
func (f *filteredFile) PassthroughFd() (int, bool) {
	if f.fst.dataFilter {
		return -1, false
	}
	return f.file.PassthroughFd()
}

func (f *filteredFile) run(ctx context.Context, op policy.Op, backing func() syscall.Errno, outs func() []policy.Arg, args ...policy.Arg) syscall.Errno {
	fst := f.fst
	if !fst.active(op) {
		return backing()
	}
	post, e := fst.pre(ctx, op, f.nodeID, args...)
	if e != 0 {
		return e
	}
	e = backing()
	if post {
		if outs != nil {
			args = append(args, outs()...)
		}
		e = fst.postRun(ctx, op, f.nodeID, e, args...)
	}
	return e
}

func (f *filteredFile) Read(ctx context.Context, dest []byte, off int64) (res fuse.ReadResult, e syscall.Errno) {
	ri := policy.ReadIn{Offset: uint64(off), Size: uint32(len(dest)), Flags: f.flags}
	var io policy.IterOut
	e = f.run(ctx, policy.OpReadIter, func() syscall.Errno {
		var e syscall.Errno
		res, e = f.file.Read(ctx, dest, off)
		if e == 0 {
			io.Ret = uint64(res.Size())
		}
		return e
	}, func() []policy.Arg { return structs(policy.StructArg(&io)) }, policy.StructArg(&ri))
	return res, e
}

func (f *filteredFile) Write(ctx context.Context, data []byte, off int64) (n uint32, e syscall.Errno) {
	// The kernel puts the file's current f_flags here; the daemon knows
	// the flags it was opened with.
	wi := policy.WriteIn{Offset: uint64(off), Size: uint32(len(data)), Flags: f.flags}
	var io policy.IterOut
	e = f.run(ctx, policy.OpWriteIter, func() syscall.Errno {
		var e syscall.Errno
		n, e = f.file.Write(ctx, data, off)
		io.Ret = uint64(n)
		return e
	}, func() []policy.Arg { return structs(policy.StructArg(&io)) }, policy.StructArg(&wi))
	return n, e
}

func (f *filteredFile) Flush(ctx context.Context) syscall.Errno {
	fi := policy.FlushIn{}
	return f.run(ctx, policy.OpFlush, func() syscall.Errno { return f.file.Flush(ctx) }, nil, policy.StructArg(&fi))
}

func (f *filteredFile) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	fi := policy.FsyncIn{FsyncFlags: flags}
	return f.run(ctx, policy.OpFsync, func() syscall.Errno { return f.file.Fsync(ctx, fi.FsyncFlags) }, nil, policy.StructArg(&fi))
}

func (f *filteredFile) Release(ctx context.Context) syscall.Errno {
	ri := policy.ReleaseIn{}
	// Release cannot fail for the caller; the callback only observes it.
	f.run(ctx, policy.OpRelease, func() syscall.Errno { return 0 }, nil, policy.StructArg(&ri))
	return f.file.Release(ctx)
}

func (f *filteredFile) Lseek(ctx context.Context, off uint64, whence uint32) (res uint64, e syscall.Errno) {
	li := policy.LseekIn{Offset: off, Whence: whence}
	var lo policy.LseekOut
	e = f.run(ctx, policy.OpLseek, func() syscall.Errno {
		var e syscall.Errno
		res, e = f.file.Lseek(ctx, li.Offset, li.Whence)
		lo.Offset = res
		return e
	}, func() []policy.Arg { return structs(policy.StructArg(&lo)) }, policy.StructArg(&li))
	return res, e
}

func (f *filteredFile) Allocate(ctx context.Context, off uint64, size uint64, mode uint32) syscall.Errno {
	fi := policy.FallocateIn{Offset: off, Length: size, Mode: mode}
	return f.run(ctx, policy.OpFileFallocate, func() syscall.Errno {
		return f.file.Allocate(ctx, fi.Offset, fi.Length, fi.Mode)
	}, nil, policy.StructArg(&fi))
}

// dirHandle is what the loopback directory stream offers.
type dirHandle interface {
	fs.FileReaddirenter
	fs.FileSeekdirer
	fs.FileReleasedirer
	fs.FileFsyncdirer
}

// filteredDir runs the readdir callbacks over batches of real dirents: the
// postfilter gets them in struct fuse_dirent layout in a buffer it may
// rewrite (drop entries by compacting), and what it leaves is listed.
type filteredDir struct {
	inner dirHandle
	n     *node
	queue []fuse.DirEntry
	done  bool
}

// direntBatch is how many bytes of dirents one readdir callback sees, a
// page as in the kernel.
const direntBatch = 4096

func (d *filteredDir) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	for len(d.queue) == 0 {
		if d.done {
			return nil, 0
		}
		if e := d.fill(ctx); e != 0 {
			return nil, e
		}
	}
	de := d.queue[0]
	d.queue = d.queue[1:]
	return &de, 0
}

func (d *filteredDir) fill(ctx context.Context) syscall.Errno {
	var batch []fuse.DirEntry
	size := 0
	for size < direntBatch {
		de, e := d.inner.Readdirent(ctx)
		if e != 0 {
			return e
		}
		if de == nil {
			d.done = true
			break
		}
		batch = append(batch, *de)
		size += policy.DirentSize(len(de.Name))
	}
	if len(batch) == 0 {
		return 0
	}
	fst := d.n.root.filter
	ri := policy.ReadIn{Offset: batch[0].Off, Size: direntBatch}
	post, e := fst.pre(ctx, policy.OpReaddir, d.n.nodeID(), policy.StructArg(&ri))
	if e != 0 {
		return e
	}
	if !post || !fst.f.Has(policy.OpReaddir, true) {
		d.queue = batch
		return 0
	}
	buf := &policy.Buffer{Data: encodeDirents(batch), Flags: policy.BufVariableSize}
	buf.MaxSize = len(buf.Data)
	ro := policy.ReadOut{Offset: batch[len(batch)-1].Off}
	if e := fst.postRun(ctx, policy.OpReaddir, d.n.nodeID(), 0, policy.StructArg(&ri), policy.StructArg(&ro), bufArg(buf)); e != 0 {
		return e
	}
	d.queue = decodeDirents(buf.Data)
	return 0
}

func (d *filteredDir) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	d.queue, d.done = nil, false
	return d.inner.Seekdir(ctx, off)
}

func (d *filteredDir) Releasedir(ctx context.Context, flags uint32) { d.inner.Releasedir(ctx, flags) }

func (d *filteredDir) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	return d.inner.Fsyncdir(ctx, flags)
}

func encodeDirents(des []fuse.DirEntry) []byte {
	size := 0
	for _, de := range des {
		size += policy.DirentSize(len(de.Name))
	}
	b := make([]byte, 0, size)
	for _, de := range des {
		b = policy.AppendDirent(b, policy.Dirent{Ino: de.Ino, Off: de.Off, Type: (de.Mode & syscall.S_IFMT) >> 12, Name: de.Name})
	}
	return b
}

// decodeDirents reads back the dirents a postfilter left.
func decodeDirents(b []byte) []fuse.DirEntry {
	ds := policy.ParseDirents(b)
	out := make([]fuse.DirEntry, len(ds))
	for i, d := range ds {
		out[i] = fuse.DirEntry{Ino: d.Ino, Off: d.Off, Mode: d.Type << 12, Name: d.Name}
	}
	return out
}
