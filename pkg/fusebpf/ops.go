package fusebpf

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
)

// The FUSE operations, each running its backing operation (the do* methods
// in node.go) under the volume's policy.

// around runs backing under op's callbacks: the prefilter sees structs and
// the names as buffers it may rewrite; backing runs with the names it left;
// the postfilter sees the same arguments, names now immutable, plus outs.
//
// extra arguments (xattr names and values) follow the structs; the
// userspace tier does not take rewrites of them.
func around(ctx context.Context, n *node, op policy.Op, structs []policy.Arg, names []string, outs func() []policy.Arg, backing func(names []string) syscall.Errno, extra ...policy.Arg) syscall.Errno {
	fst := n.root.filter
	if !fst.active(op) {
		return backing(names)
	}
	args := append(structs, extra...)
	bufs := make([]*policy.Buffer, len(names))
	for i, nm := range names {
		bufs[i] = nameBuf(nm, true)
		args = append(args, bufArg(bufs[i]))
	}
	post, e := fst.pre(ctx, op, n.nodeID(), args...)
	if e != 0 {
		return e
	}
	final := make([]string, len(names))
	for i, b := range bufs {
		final[i] = cString(b.Data)
		if !validName(final[i]) {
			return syscall.EINVAL
		}
		b.Flags |= policy.BufImmutable
	}
	e = backing(final)
	if post {
		if outs != nil {
			args = append(args, outs()...)
		}
		e = fst.postRun(ctx, op, n.nodeID(), e, args...)
	}
	return e
}

func structs(a ...policy.Arg) []policy.Arg { return a }

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (in *fs.Inode, fh fs.FileHandle, fflags uint32, e syscall.Errno) {
	if !validName(name) {
		return nil, nil, 0, syscall.EINVAL
	}
	ci := policy.CreateIn{Flags: flags, Mode: mode}
	var eo policy.EntryOut
	var oo policy.OpenOut
	e = around(ctx, n, policy.OpCreateOpen, structs(policy.StructArg(&ci)), []string{name},
		func() []policy.Arg {
			if in != nil {
				eo.NodeID = in.StableAttr().Ino
				attrToABI(&eo.Attr, &out.Attr)
			}
			return structs(policy.StructArg(&eo), policy.StructArg(&oo))
		},
		func(names []string) syscall.Errno {
			var e syscall.Errno
			in, fh, fflags, e = n.doCreate(ctx, names[0], ci.Flags, ci.Mode, out)
			return e
		})
	if e != 0 && fh != nil {
		fh.(*file).Release(ctx)
		return nil, nil, 0, e
	}
	if e != 0 {
		return nil, nil, 0, e
	}
	return in, in.Operations().(*node).wrapFile(fh), fflags, 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (in *fs.Inode, e syscall.Errno) {
	if !validName(name) {
		return nil, syscall.EINVAL
	}
	mi := policy.MkdirIn{Mode: mode}
	e = around(ctx, n, policy.OpMkdir, structs(policy.StructArg(&mi)), []string{name}, nil,
		func(names []string) syscall.Errno {
			var e syscall.Errno
			in, e = n.doMkdir(ctx, names[0], mi.Mode, out)
			return e
		})
	if e != 0 {
		return nil, e
	}
	return in, 0
}

func (n *node) Mknod(ctx context.Context, name string, mode, rdev uint32, out *fuse.EntryOut) (in *fs.Inode, e syscall.Errno) {
	if !validName(name) {
		return nil, syscall.EINVAL
	}
	mi := policy.MknodIn{Mode: mode, Rdev: rdev}
	e = around(ctx, n, policy.OpMknod, structs(policy.StructArg(&mi)), []string{name}, nil,
		func(names []string) syscall.Errno {
			var e syscall.Errno
			in, e = n.doMknod(ctx, names[0], mi.Mode, mi.Rdev, out)
			return e
		})
	if e != 0 {
		return nil, e
	}
	return in, 0
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (in *fs.Inode, e syscall.Errno) {
	if !validName(name) {
		return nil, syscall.EINVAL
	}
	fst := n.root.filter
	if !fst.active(policy.OpSymlink) {
		return n.doSymlink(ctx, target, name, out)
	}
	// symlink(name, path): the link's name and its target.
	nb, tb := nameBuf(name, true), nameBuf(target, true)
	post, e := fst.pre(ctx, policy.OpSymlink, n.nodeID(), bufArg(nb), bufArg(tb))
	if e != 0 {
		return nil, e
	}
	name, target = cString(nb.Data), cString(tb.Data)
	if !validName(name) {
		return nil, syscall.EINVAL
	}
	in, e = n.doSymlink(ctx, target, name, out)
	if post {
		nb.Flags |= policy.BufImmutable
		tb.Flags |= policy.BufImmutable
		e = fst.postRun(ctx, policy.OpSymlink, n.nodeID(), e, bufArg(nb), bufArg(tb))
	}
	if e != 0 {
		return nil, e
	}
	return in, 0
}

func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (in *fs.Inode, e syscall.Errno) {
	if !validName(name) {
		return nil, syscall.EINVAL
	}
	li := policy.LinkIn{}
	if t, ok := target.(*node); ok {
		li.Oldnodeid = t.nodeID()
	}
	e = around(ctx, n, policy.OpLink, structs(policy.StructArg(&li)), []string{name}, nil,
		func(names []string) syscall.Errno {
			var e syscall.Errno
			in, e = n.doLink(ctx, target, names[0], out)
			return e
		})
	if e != 0 {
		return nil, e
	}
	return in, 0
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	if !validName(name) {
		return syscall.EINVAL
	}
	return around(ctx, n, policy.OpUnlink, nil, []string{name}, nil,
		func(names []string) syscall.Errno { return n.doUnlink(ctx, names[0]) })
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	if !validName(name) {
		return syscall.EINVAL
	}
	return around(ctx, n, policy.OpRmdir, nil, []string{name}, nil,
		func(names []string) syscall.Errno { return n.doRmdir(ctx, names[0]) })
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if !validName(name) || !validName(newName) {
		return syscall.EINVAL
	}
	var newdir uint64
	if np, ok := newParent.(*node); ok {
		newdir = np.nodeID()
	}
	backing := func(names []string) syscall.Errno {
		e := n.doRename(ctx, names[0], newParent, names[1], flags)
		if e == 0 && flags&unix.RENAME_EXCHANGE == 0 {
			// The moved inode is known by newName from now on; keep its
			// backing name if a policy made them differ.
			if ch := n.GetChild(name); ch != nil {
				cn := ch.Operations().(*node)
				if names[1] != newName {
					b := names[1]
					cn.alias.Store(&b)
				} else {
					cn.alias.Store(nil)
				}
			}
		}
		return e
	}
	// The kernel sends RENAME2 only when there are flags.
	if flags != 0 {
		ri := policy.Rename2In{Newdir: newdir, Flags: flags}
		return around(ctx, n, policy.OpRename2, structs(policy.StructArg(&ri)), []string{name, newName}, nil, backing)
	}
	ri := policy.RenameIn{Newdir: newdir}
	return around(ctx, n, policy.OpRename, structs(policy.StructArg(&ri)), []string{name, newName}, nil, backing)
}

func (n *node) Readlink(ctx context.Context) (target []byte, e syscall.Errno) {
	name, _ := n.Parent()
	e = around(ctx, n, policy.OpGetLink, nil, []string{name}, nil,
		func([]string) syscall.Errno {
			var e syscall.Errno
			target, e = n.doReadlink(ctx)
			return e
		})
	return target, e
}

func (n *node) Open(ctx context.Context, flags uint32) (fh fs.FileHandle, fflags uint32, e syscall.Errno) {
	oi := policy.OpenIn{Flags: flags}
	var oo policy.OpenOut
	e = around(ctx, n, policy.OpOpen, structs(policy.StructArg(&oi)), nil,
		func() []policy.Arg { return structs(policy.StructArg(&oo)) },
		func([]string) syscall.Errno {
			var e syscall.Errno
			fh, fflags, e = n.doOpen(ctx, oi.Flags)
			return e
		})
	if e != 0 {
		if fh != nil {
			fh.(*file).Release(ctx)
		}
		return nil, 0, e
	}
	return n.wrapFile(fh), fflags, 0
}

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fh fs.FileHandle, fflags uint32, e syscall.Errno) {
	oi := policy.OpenIn{Flags: flags}
	var oo policy.OpenOut
	e = around(ctx, n, policy.OpOpendir, structs(policy.StructArg(&oi)), nil,
		func() []policy.Arg { return structs(policy.StructArg(&oo)) },
		func([]string) syscall.Errno {
			var e syscall.Errno
			fh, fflags, e = n.doOpendirHandle(ctx, oi.Flags)
			return e
		})
	if e != 0 {
		if r, ok := fh.(fs.FileReleasedirer); ok {
			r.Releasedir(ctx, 0)
		}
		return nil, 0, e
	}
	if n.root.filter.active(policy.OpReaddir) {
		fh = &filteredDir{inner: fh.(dirHandle), n: n}
	}
	return fh, fflags, 0
}

func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	var so policy.StatfsOut
	return around(ctx, n, policy.OpStatfs, nil, nil,
		func() []policy.Arg {
			so = policy.StatfsOut{Blocks: out.Blocks, Bfree: out.Bfree, Bavail: out.Bavail, Files: out.Files,
				Ffree: out.Ffree, Bsize: out.Bsize, Namelen: out.NameLen, Frsize: out.Frsize}
			return structs(policy.StructArg(&so))
		},
		func([]string) syscall.Errno { return n.doStatfs(ctx, out) })
}

func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	si := policy.SetattrIn{
		Valid: in.Valid, Fh: in.Fh, Size: in.Size, LockOwner: in.LockOwner,
		Atime: in.Atime, Mtime: in.Mtime, Ctime: in.Ctime,
		Atimensec: in.Atimensec, Mtimensec: in.Mtimensec, Ctimensec: in.Ctimensec,
		Mode: in.Mode, UID: in.Uid, GID: in.Gid,
	}
	var ao policy.AttrOut
	return around(ctx, n, policy.OpSetattr, structs(policy.StructArg(&si)), nil,
		func() []policy.Arg {
			attrToABI(&ao.Attr, &out.Attr)
			return structs(policy.StructArg(&ao))
		},
		func([]string) syscall.Errno {
			in.Valid, in.Size, in.Mode, in.Uid, in.Gid = si.Valid, si.Size, si.Mode, si.UID, si.GID
			in.Atime, in.Mtime, in.Atimensec, in.Mtimensec = si.Atime, si.Mtime, si.Atimensec, si.Mtimensec
			return n.doSetattr(ctx, f, in, out)
		})
}

func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (sz uint32, e syscall.Errno) {
	gi := policy.GetxattrIn{Size: uint32(len(dest))}
	var gout policy.GetxattrOut
	e = around(ctx, n, policy.OpGetxattr, structs(policy.StructArg(&gi)), nil,
		func() []policy.Arg {
			gout.Size = sz
			val := &policy.Buffer{Data: dest[:min(int(sz), len(dest))], MaxSize: len(dest), Flags: policy.BufVariableSize}
			return structs(bufArg(val), policy.StructArg(&gout))
		},
		func([]string) syscall.Errno {
			var e syscall.Errno
			sz, e = n.doGetxattr(ctx, attr, dest)
			return e
		}, policy.Arg{Buf: nameBuf(attr, true)})
	return sz, e
}

func (n *node) Listxattr(ctx context.Context, dest []byte) (sz uint32, e syscall.Errno) {
	gi := policy.GetxattrIn{Size: uint32(len(dest))}
	var gout policy.GetxattrOut
	e = around(ctx, n, policy.OpListxattr, structs(policy.StructArg(&gi)), nil,
		func() []policy.Arg {
			gout.Size = sz
			val := &policy.Buffer{Data: dest[:min(int(sz), len(dest))], MaxSize: len(dest), Flags: policy.BufVariableSize}
			return structs(bufArg(val), policy.StructArg(&gout))
		},
		func([]string) syscall.Errno {
			var e syscall.Errno
			sz, e = n.doListxattr(ctx, dest)
			return e
		})
	return sz, e
}

func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	si := policy.SetxattrIn{Size: uint32(len(data)), Flags: flags}
	return around(ctx, n, policy.OpSetxattr, structs(policy.StructArg(&si)), nil, nil,
		func([]string) syscall.Errno { return n.doSetxattr(ctx, attr, data, si.Flags) },
		policy.Arg{Buf: nameBuf(attr, true)},
		policy.Arg{Buf: &policy.Buffer{Data: data, MaxSize: len(data)}})
}

func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return around(ctx, n, policy.OpRemovexattr, nil, nil, nil,
		func([]string) syscall.Errno { return n.doRemovexattr(ctx, attr) },
		policy.Arg{Buf: nameBuf(attr, true)})
}
