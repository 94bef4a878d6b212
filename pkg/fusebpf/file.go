package fusebpf

import (
	"context"
	"errors"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// file is an open backing file. Its data goes through FUSE passthrough
// unless the file carries privileges (setuid, setgid or file capabilities)
// that a write must clear: with HANDLE_KILLPRIV_V2 negotiated that duty is
// the daemon's, and a passthrough write runs with the daemon's own
// credentials, which would keep the bits. Such files are served through the
// daemon, whose Write clears them first.
type file struct {
	*fs.LoopbackFile
	fd    int
	flags uint32 // open(2) flags

	mu   sync.Mutex
	priv bool // file may carry suid/sgid/capabilities a write must clear
}

var (
	_ = (fs.FilePassthroughFder)((*file)(nil))
	_ = (fs.FileWriter)((*file)(nil))
)

func newFile(fd int, st *unix.Stat_t, flags uint32) *file {
	f := &file{LoopbackFile: fs.NewLoopbackFile(fd).(*fs.LoopbackFile), fd: fd, flags: flags}
	if flags&(unix.O_WRONLY|unix.O_RDWR) != 0 && st.Mode&unix.S_IFMT == unix.S_IFREG {
		f.priv = st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 || hasCaps(fd)
	}
	return f
}

// hasCaps reports whether the file has a security.capability xattr.
func hasCaps(fd int) bool {
	_, err := unix.Fgetxattr(fd, "security.capability", nil)
	return err == nil
}

// PassthroughFd hands the kernel the backing descriptor, except for files
// whose privileges a write must clear.
func (f *file) PassthroughFd() (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.priv {
		return -1, false
	}
	return f.fd, true
}

// Write clears privileges like the kernel would for an unprivileged
// writer, then writes.
func (f *file) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	f.mu.Lock()
	if f.priv {
		_, _, unpriv := callerOwner(ctx)
		if err := killPrivFd(f.fd, unpriv); err != nil {
			f.mu.Unlock()
			return 0, errno(err)
		}
		f.priv = false
	}
	f.mu.Unlock()
	return f.LoopbackFile.Write(ctx, data, off)
}

// killPriv clears the file's privileges (see killPrivFd).
func (f *file) killPriv(unpriv bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return killPrivFd(f.fd, unpriv)
}

// killPrivFd does what the kernel's file_remove_privs does for a writer:
// file capabilities always go; suid (and sgid when group-executable) go
// when the writer is unprivileged.
func killPrivFd(fd int, unpriv bool) error {
	if err := unix.Fremovexattr(fd, "security.capability"); err != nil &&
		!errors.Is(err, unix.ENODATA) && !errors.Is(err, unix.EOPNOTSUPP) {
		return err
	}
	if !unpriv {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	mode := st.Mode & 07777
	kill := uint32(unix.S_ISUID)
	if mode&unix.S_IXGRP != 0 {
		kill |= unix.S_ISGID
	}
	if mode&kill == 0 {
		return nil
	}
	return unix.Fchmod(fd, mode&^kill)
}

// Setattr on an open file: truncation by an unprivileged caller clears
// privileges (the kernel flags it with FATTR_KILL_SUIDGID).
func (f *file) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if e := f.LoopbackFile.Setattr(ctx, in, out); e != 0 {
		return e
	}
	if _, ok := in.GetSize(); ok && in.Valid&fuse.FATTR_KILL_SUIDGID != 0 {
		if err := f.killPriv(true); err != nil {
			return errno(err)
		}
		return f.LoopbackFile.Getattr(ctx, out)
	}
	return 0
}
