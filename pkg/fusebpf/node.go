package fusebpf

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
)

// fsRoot is the state shared by every node of one mount.
type fsRoot struct {
	dev    uint64 // device of the backing root, folded into inode numbers
	filter *filterState
}

// node is one inode of the mount. A directory holds an O_PATH descriptor of
// its backing directory for as long as the kernel knows the inode; every
// other node is reached as (parent directory descriptor, current name) and
// checked against the inode number it was looked up with, so a rename or a
// swap in the backing tree yields ENOENT rather than a different file.
//
// All backing access is relative to those descriptors and resolves one
// name component at a time without following symlinks: nothing a workload
// does inside the backing tree can steer the daemon outside it.
type node struct {
	fs.Inode
	root  *fsRoot
	dirFd int    // O_PATH descriptor for directories, -1 otherwise
	ino   uint64 // backing inode number
	dev   uint64 // backing device
	// alias is the backing name when a policy's lookup prefilter mapped
	// the name the kernel knows to another one; nil otherwise.
	alias atomic.Pointer[string]
}

var (
	_ = (fs.NodeLookuper)((*node)(nil))
	_ = (fs.NodeGetattrer)((*node)(nil))
	_ = (fs.NodeSetattrer)((*node)(nil))
	_ = (fs.NodeOpener)((*node)(nil))
	_ = (fs.NodeCreater)((*node)(nil))
	_ = (fs.NodeMkdirer)((*node)(nil))
	_ = (fs.NodeMknoder)((*node)(nil))
	_ = (fs.NodeSymlinker)((*node)(nil))
	_ = (fs.NodeLinker)((*node)(nil))
	_ = (fs.NodeReadlinker)((*node)(nil))
	_ = (fs.NodeUnlinker)((*node)(nil))
	_ = (fs.NodeRmdirer)((*node)(nil))
	_ = (fs.NodeRenamer)((*node)(nil))
	_ = (fs.NodeOpendirHandler)((*node)(nil))
	_ = (fs.NodeStatfser)((*node)(nil))
	_ = (fs.NodeGetxattrer)((*node)(nil))
	_ = (fs.NodeSetxattrer)((*node)(nil))
	_ = (fs.NodeListxattrer)((*node)(nil))
	_ = (fs.NodeRemovexattrer)((*node)(nil))
	_ = (fs.NodeOnForgetter)((*node)(nil))
	_ = (fs.NodeAccesser)((*node)(nil))
)

const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// openDir opens name below dirfd as an O_PATH directory descriptor,
// refusing symlinks and anything that would leave dirfd.
func openDir(dirfd int, name string) (int, error) {
	for {
		fd, err := unix.Openat2(dirfd, name, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
			Resolve: resolveFlags,
		})
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		return fd, err
	}
}

func (n *node) OnForget() {
	if n.dirFd >= 0 {
		unix.Close(n.dirFd)
		n.dirFd = -1
	}
}

// parentFd returns the descriptor of this node's parent directory and the
// node's current name in it.
func (n *node) parentFd() (int, string, syscall.Errno) {
	name, p := n.Parent()
	if p == nil {
		return -1, "", syscall.ENOENT
	}
	pn := p.Operations().(*node)
	if pn.dirFd < 0 {
		return -1, "", syscall.ENOENT
	}
	if a := n.alias.Load(); a != nil {
		name = *a
	}
	return pn.dirFd, name, 0
}

// gone handles a name that no longer refers to this node's backing inode
// (changed in the backing tree behind the kernel's back): the kernel's entry
// is dropped, off the request path since the kernel may hold the directory
// lock, and the caller sees ENOENT, as it would had it looked the name up
// a moment later.
func (n *node) gone(name string) syscall.Errno {
	if _, p := n.Parent(); p != nil {
		go p.NotifyEntry(name)
	}
	return syscall.ENOENT
}

// same reports whether st describes this node's backing inode.
func (n *node) same(st *unix.Stat_t) bool {
	return st.Ino == n.ino && uint64(st.Dev) == n.dev
}

// stat returns the attributes of the backing inode.
func (n *node) stat(st *unix.Stat_t) syscall.Errno {
	if n.dirFd >= 0 {
		return errno(unix.Fstatat(n.dirFd, "", st, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW))
	}
	pfd, name, e := n.parentFd()
	if e != 0 {
		return e
	}
	if err := unix.Fstatat(pfd, name, st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return errno(err)
	}
	if !n.same(st) {
		return n.gone(name)
	}
	return 0
}

// open opens the backing inode with flags (O_NOFOLLOW is always added) and
// checks that it is still the inode this node stands for. The caller
// closes the descriptor.
func (n *node) open(flags int) (int, syscall.Errno) {
	flags |= unix.O_NOFOLLOW | unix.O_CLOEXEC
	flags &^= unix.O_CREAT | unix.O_EXCL | unix.O_NOCTTY
	var fd, pfd int
	var name string
	var err error
	if n.dirFd >= 0 {
		// Reopen the directory itself; "." cannot leave it.
		fd, err = unix.Openat(n.dirFd, ".", flags, 0)
	} else {
		var e syscall.Errno
		pfd, name, e = n.parentFd()
		if e != 0 {
			return -1, e
		}
		fd, err = unix.Openat(pfd, name, flags, 0)
	}
	if err != nil {
		return -1, errno(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, errno(err)
	}
	if !n.same(&st) {
		unix.Close(fd)
		return -1, n.gone(name)
	}
	return fd, 0
}

// procPath names an open descriptor for the *xattr and chmod calls that
// have no descriptor-relative form working on O_PATH descriptors.
func procPath(fd int) string {
	return "/proc/self/fd/" + strconv.Itoa(fd)
}

// withPath runs f with an O_PATH descriptor of the backing inode.
func (n *node) withPath(f func(fd int) error) syscall.Errno {
	if n.dirFd >= 0 {
		return errno(f(n.dirFd))
	}
	fd, e := n.open(unix.O_PATH)
	if e != 0 {
		return e
	}
	defer unix.Close(fd)
	return errno(f(fd))
}

// newChild makes (or finds) the inode for a backing object found under n.
// dirFd is an O_PATH descriptor when st is a directory; it is owned by the
// returned node, or closed if an inode for the same object already exists.
func (n *node) newChild(ctx context.Context, st *unix.Stat_t, dirFd int, out *fuse.EntryOut) *fs.Inode {
	child := &node{root: n.root, dirFd: dirFd, ino: st.Ino, dev: uint64(st.Dev)}
	id := fs.StableAttr{Mode: st.Mode & unix.S_IFMT, Ino: n.inoOf(st)}
	in := n.NewInode(ctx, child, id)
	if in.Operations() != child && dirFd >= 0 {
		unix.Close(dirFd)
	}
	fillEntry(out, st)
	return in
}

// lookupChild stats name below n and builds its inode.
func (n *node) lookupChild(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	var st unix.Stat_t
	dfd, e := n.resolve(name, &st)
	if e != 0 {
		return nil, e
	}
	return n.newChild(ctx, &st, dfd, out), 0
}

// resolve stats name below n; for a directory it also returns an O_PATH
// descriptor (else -1), whose attributes, not the name's, are returned.
func (n *node) resolve(name string, st *unix.Stat_t) (int, syscall.Errno) {
	if err := unix.Fstatat(n.dirFd, name, st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return -1, errno(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return -1, 0
	}
	fd, err := openDir(n.dirFd, name)
	if err != nil {
		return -1, errno(err)
	}
	if err := unix.Fstat(fd, st); err != nil {
		unix.Close(fd)
		return -1, errno(err)
	}
	return fd, 0
}

// inoOf is the inode number the mount reports for a backing object.
func (n *node) inoOf(st *unix.Stat_t) uint64 {
	swapped := (uint64(st.Dev) << 32) | (uint64(st.Dev) >> 32)
	rootSwapped := (n.root.dev << 32) | (n.root.dev >> 32)
	return (swapped ^ rootSwapped) ^ st.Ino
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if n.dirFd < 0 {
		return nil, syscall.ENOTDIR
	}
	if !validName(name) {
		return nil, syscall.EINVAL
	}
	fst := n.root.filter
	if !fst.active(policy.OpLookup) {
		return n.lookupChild(ctx, name, out)
	}
	nb := nameBuf(name, true)
	post, e := fst.pre(ctx, policy.OpLookup, n.nodeID(), bufArg(nb))
	if e != 0 {
		return nil, e
	}
	// The prefilter may have rewritten the name (FUSE-BPF-ABI.md §1.7
	// step 4): the backing lookup uses what it left.
	bname := cString(nb.Data)
	if !validName(bname) {
		return nil, syscall.EINVAL
	}
	var st unix.Stat_t
	dfd, e := n.resolve(bname, &st)
	if post {
		// The postfilter sees the entry before an inode exists for it,
		// so a denial leaves nothing behind.
		nb.Flags |= policy.BufImmutable
		var eo policy.EntryOut
		if e == 0 {
			eo.NodeID = n.inoOf(&st)
			var a fuse.Attr
			fillAttr(&a, &st)
			attrToABI(&eo.Attr, &a)
		}
		entries := &policy.Buffer{MaxSize: 2 * 24, Flags: policy.BufVariableSize}
		if pe := fst.postRun(ctx, policy.OpLookup, n.nodeID(), e, bufArg(nb), policy.StructArg(&eo), bufArg(entries)); pe != e {
			if dfd >= 0 {
				unix.Close(dfd)
			}
			return nil, pe
		}
	}
	if e != 0 {
		return nil, e
	}
	in := n.newChild(ctx, &st, dfd, out)
	if bname != name {
		b := bname
		in.Operations().(*node).alias.Store(&b)
	}
	return in, 0
}

// cString returns b up to its first NUL.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

func attrToABI(a *policy.Attr, f *fuse.Attr) {
	*a = policy.Attr{
		Ino: f.Ino, Size: f.Size, Blocks: f.Blocks,
		Atime: f.Atime, Mtime: f.Mtime, Ctime: f.Ctime,
		Atimensec: f.Atimensec, Mtimensec: f.Mtimensec, Ctimensec: f.Ctimensec,
		Mode: f.Mode, Nlink: f.Nlink, UID: f.Uid, GID: f.Gid, Rdev: f.Rdev, Blksize: f.Blksize,
	}
}

// attrFromABI takes back what a postfilter may change in attributes.
func attrFromABI(f *fuse.Attr, a *policy.Attr) {
	f.Size, f.Blocks = a.Size, a.Blocks
	f.Atime, f.Mtime, f.Ctime = a.Atime, a.Mtime, a.Ctime
	f.Atimensec, f.Mtimensec, f.Ctimensec = a.Atimensec, a.Mtimensec, a.Ctimensec
	f.Mode = f.Mode&unix.S_IFMT | a.Mode&^unix.S_IFMT
	f.Nlink, f.Uid, f.Gid = a.Nlink, a.UID, a.GID
}

// nodeID is what a callback sees as meta->nodeid: the inode number the
// mount reports, and FUSE_ROOT_ID for the root.
func (n *node) nodeID() uint64 {
	if n.IsRoot() {
		return fuse.FUSE_ROOT_ID
	}
	return n.StableAttr().Ino
}

// validName reports whether name is a single path component. The kernel
// never sends anything else; the check keeps the daemon's descriptor-
// relative calls honest should it ever do so.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsRune(name, '/')
}

func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	fst := n.root.filter
	if !fst.active(policy.OpGetattr) {
		return n.getattr(ctx, f, out)
	}
	gin := policy.GetattrIn{}
	post, e := fst.pre(ctx, policy.OpGetattr, n.nodeID(), policy.StructArg(&gin))
	if e != 0 {
		return e
	}
	e = n.getattr(ctx, f, out)
	if post {
		var ao policy.AttrOut
		attrToABI(&ao.Attr, &out.Attr)
		if e = fst.postRun(ctx, policy.OpGetattr, n.nodeID(), e, policy.StructArg(&gin), policy.StructArg(&ao)); e == 0 {
			attrFromABI(&out.Attr, &ao.Attr)
		}
	}
	return e
}

func (n *node) getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if fg, ok := f.(fs.FileGetattrer); ok && fg != nil {
		return fg.Getattr(ctx, out)
	}
	var st unix.Stat_t
	if e := n.stat(&st); e != 0 {
		return e
	}
	fillAttr(&out.Attr, &st)
	return 0
}

func (n *node) Access(ctx context.Context, mask uint32) syscall.Errno {
	// default_permissions makes the kernel check access from attributes;
	// ACCESS only reaches us for existence checks.
	var st unix.Stat_t
	return filtered(ctx, n, policy.OpAccess, func() syscall.Errno { return n.stat(&st) },
		policy.StructArg(&policy.AccessIn{Mask: mask}))
}

// filtered runs a backing operation whose callbacks take only input
// arguments (the postfilter sees the same ones, read-only), under n's
// policy.
func filtered(ctx context.Context, n *node, op policy.Op, backing func() syscall.Errno, args ...policy.Arg) syscall.Errno {
	fst := n.root.filter
	if !fst.active(op) {
		return backing()
	}
	post, e := fst.pre(ctx, op, n.nodeID(), args...)
	if e != 0 {
		return e
	}
	e = backing()
	if post {
		for _, a := range args {
			if a.Buf != nil {
				a.Buf.Flags |= policy.BufImmutable
			}
		}
		e = fst.postRun(ctx, op, n.nodeID(), e, args...)
	}
	return e
}

// callerOwner returns the uid and gid new objects should get, or ok=false
// when the caller is the daemon's own identity (root).
func callerOwner(ctx context.Context) (uid, gid int, ok bool) {
	c, found := fuse.FromContext(ctx)
	if !found || (c.Uid == 0 && c.Gid == 0) {
		return 0, 0, false
	}
	return int(c.Uid), int(c.Gid), true
}

// chownNew gives a newly created object to the caller. In a setgid
// directory the group the kernel chose (the directory's) is kept.
func (n *node) chownNew(ctx context.Context, fd int, name string, flags int) error {
	uid, gid, ok := callerOwner(ctx)
	if !ok {
		return nil
	}
	var pst unix.Stat_t
	if err := unix.Fstat(n.dirFd, &pst); err == nil && pst.Mode&unix.S_ISGID != 0 {
		gid = -1
	}
	return unix.Fchownat(fd, name, uid, gid, flags)
}

func (n *node) doCreate(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	if !validName(name) {
		return nil, nil, 0, syscall.EINVAL
	}
	fl := int(flags)&^unix.O_NOCTTY | unix.O_CREAT | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(n.dirFd, name, fl, mode)
	if err != nil {
		return nil, nil, 0, errno(err)
	}
	if err := n.chownNew(ctx, fd, "", unix.AT_EMPTY_PATH); err != nil {
		unix.Close(fd)
		unix.Unlinkat(n.dirFd, name, 0)
		return nil, nil, 0, errno(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, nil, 0, errno(err)
	}
	in := n.newChild(ctx, &st, -1, out)
	return in, newFile(fd, &st, flags), 0, 0
}

func (n *node) doMkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if !validName(name) {
		return nil, syscall.EINVAL
	}
	if err := unix.Mkdirat(n.dirFd, name, mode); err != nil {
		return nil, errno(err)
	}
	fd, err := openDir(n.dirFd, name)
	if err != nil {
		return nil, errno(err)
	}
	if err := n.chownNew(ctx, fd, "", unix.AT_EMPTY_PATH); err != nil {
		unix.Close(fd)
		unix.Unlinkat(n.dirFd, name, unix.AT_REMOVEDIR)
		return nil, errno(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, errno(err)
	}
	return n.newChild(ctx, &st, fd, out), 0
}

func (n *node) doMknod(ctx context.Context, name string, mode, rdev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if !validName(name) {
		return nil, syscall.EINVAL
	}
	if err := unix.Mknodat(n.dirFd, name, mode, int(rdev)); err != nil {
		return nil, errno(err)
	}
	if err := n.chownNew(ctx, n.dirFd, name, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		unix.Unlinkat(n.dirFd, name, 0)
		return nil, errno(err)
	}
	return n.lookupChild(ctx, name, out)
}

func (n *node) doSymlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if !validName(name) {
		return nil, syscall.EINVAL
	}
	if err := unix.Symlinkat(target, n.dirFd, name); err != nil {
		return nil, errno(err)
	}
	if err := n.chownNew(ctx, n.dirFd, name, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		unix.Unlinkat(n.dirFd, name, 0)
		return nil, errno(err)
	}
	return n.lookupChild(ctx, name, out)
}

func (n *node) doLink(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if !validName(name) {
		return nil, syscall.EINVAL
	}
	t, ok := target.(*node)
	if !ok {
		return nil, syscall.EXDEV
	}
	e := t.withPath(func(fd int) error {
		return unix.Linkat(fd, "", n.dirFd, name, unix.AT_EMPTY_PATH)
	})
	if e != 0 {
		return nil, e
	}
	return n.lookupChild(ctx, name, out)
}

func (n *node) doReadlink(ctx context.Context) ([]byte, syscall.Errno) {
	pfd, name, e := n.parentFd()
	if e != 0 {
		return nil, e
	}
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, errno(err)
	}
	if !n.same(&st) {
		return nil, n.gone(name)
	}
	buf := make([]byte, st.Size+1)
	if len(buf) < 256 {
		buf = make([]byte, 256)
	}
	for {
		sz, err := unix.Readlinkat(pfd, name, buf)
		if err != nil {
			return nil, errno(err)
		}
		if sz < len(buf) {
			return buf[:sz], 0
		}
		buf = make([]byte, 2*len(buf))
	}
}

func (n *node) doUnlink(ctx context.Context, name string) syscall.Errno {
	if !validName(name) {
		return syscall.EINVAL
	}
	return errno(unix.Unlinkat(n.dirFd, name, 0))
}

func (n *node) doRmdir(ctx context.Context, name string) syscall.Errno {
	if !validName(name) {
		return syscall.EINVAL
	}
	return errno(unix.Unlinkat(n.dirFd, name, unix.AT_REMOVEDIR))
}

func (n *node) doRename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if !validName(name) || !validName(newName) {
		return syscall.EINVAL
	}
	np, ok := newParent.(*node)
	if !ok || np.dirFd < 0 {
		return syscall.EXDEV
	}
	return errno(unix.Renameat2(n.dirFd, name, np.dirFd, newName, uint(flags)))
}

func (n *node) doOpen(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fd, e := n.open(int(flags))
	if e != 0 {
		return nil, 0, e
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, 0, errno(err)
	}
	f := newFile(fd, &st, flags)
	if flags&unix.O_TRUNC != 0 {
		if _, _, ok := callerOwner(ctx); ok {
			if err := f.killPriv(true); err != nil {
				f.Release(ctx)
				return nil, 0, errno(err)
			}
		}
	}
	return f, 0, 0
}

func (n *node) doOpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fd, e := n.open(unix.O_RDONLY | unix.O_DIRECTORY)
	if e != 0 {
		return nil, 0, e
	}
	ds, e := fs.NewLoopbackDirStreamFd(fd)
	if e != 0 {
		unix.Close(fd)
		return nil, 0, e
	}
	return ds.(fs.FileHandle), 0, 0
}

func (n *node) doStatfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	var st unix.Statfs_t
	if err := n.withPath(func(fd int) error { return unix.Fstatfs(fd, &st) }); err != 0 {
		return err
	}
	out.Blocks = st.Blocks
	out.Bfree = st.Bfree
	out.Bavail = st.Bavail
	out.Files = st.Files
	out.Ffree = st.Ffree
	out.Bsize = uint32(st.Bsize)
	out.NameLen = uint32(st.Namelen)
	out.Frsize = uint32(st.Frsize)
	return 0
}

func (n *node) doSetattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	var st unix.Stat_t
	if e := n.stat(&st); e != 0 {
		return e
	}
	if m, ok := in.GetMode(); ok {
		if e := n.withPath(func(fd int) error { return unix.Chmod(procPath(fd), m) }); e != 0 {
			return e
		}
	}
	uid, uok := in.GetUID()
	gid, gok := in.GetGID()
	if uok || gok {
		su, sg := -1, -1
		if uok {
			su = int(uid)
		}
		if gok {
			sg = int(gid)
		}
		if e := n.withPath(func(fd int) error {
			return unix.Fchownat(fd, "", su, sg, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW)
		}); e != 0 {
			return e
		}
	}
	if sz, ok := in.GetSize(); ok {
		fd, e := n.open(unix.O_WRONLY)
		if e != 0 {
			return e
		}
		err := unix.Ftruncate(fd, int64(sz))
		if err == nil && in.Valid&fuse.FATTR_KILL_SUIDGID != 0 {
			// HANDLE_KILLPRIV_V2: the kernel asks us to clear the bits
			// for an unprivileged truncate.
			err = killPrivFd(fd, true)
		}
		unix.Close(fd)
		if err != nil {
			return errno(err)
		}
	}
	mtime, mok := in.GetMTime()
	atime, aok := in.GetATime()
	if mok || aok || in.Valid&(fuse.FATTR_ATIME_NOW|fuse.FATTR_MTIME_NOW) != 0 {
		ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
		if aok {
			ts[0] = unix.NsecToTimespec(atime.UnixNano())
		}
		if mok {
			ts[1] = unix.NsecToTimespec(mtime.UnixNano())
		}
		if in.Valid&fuse.FATTR_ATIME_NOW != 0 {
			ts[0] = unix.Timespec{Nsec: unix.UTIME_NOW}
		}
		if in.Valid&fuse.FATTR_MTIME_NOW != 0 {
			ts[1] = unix.Timespec{Nsec: unix.UTIME_NOW}
		}
		if e := n.withPath(func(fd int) error {
			return unix.UtimesNanoAt(fd, "", ts, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW)
		}); e != 0 {
			return e
		}
	}
	if e := n.stat(&st); e != 0 {
		return e
	}
	fillAttr(&out.Attr, &st)
	return 0
}

func (n *node) doGetxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	var sz int
	e := n.withPath(func(fd int) error {
		var err error
		sz, err = unix.Getxattr(procPath(fd), attr, dest)
		return err
	})
	return uint32(sz), e
}

func (n *node) doListxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	var sz int
	e := n.withPath(func(fd int) error {
		var err error
		sz, err = unix.Listxattr(procPath(fd), dest)
		return err
	})
	return uint32(sz), e
}

func (n *node) doSetxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return n.withPath(func(fd int) error { return unix.Setxattr(procPath(fd), attr, data, int(flags)) })
}

func (n *node) doRemovexattr(ctx context.Context, attr string) syscall.Errno {
	return n.withPath(func(fd int) error { return unix.Removexattr(procPath(fd), attr) })
}

func fillAttr(a *fuse.Attr, st *unix.Stat_t) {
	a.Ino = st.Ino
	a.Size = uint64(st.Size)
	a.Blocks = uint64(st.Blocks)
	a.Atime = uint64(st.Atim.Sec)
	a.Atimensec = uint32(st.Atim.Nsec)
	a.Mtime = uint64(st.Mtim.Sec)
	a.Mtimensec = uint32(st.Mtim.Nsec)
	a.Ctime = uint64(st.Ctim.Sec)
	a.Ctimensec = uint32(st.Ctim.Nsec)
	a.Mode = st.Mode
	a.Nlink = uint32(st.Nlink)
	a.Uid = st.Uid
	a.Gid = st.Gid
	a.Rdev = uint32(st.Rdev)
	a.Blksize = uint32(st.Blksize)
}

func fillEntry(out *fuse.EntryOut, st *unix.Stat_t) {
	fillAttr(&out.Attr, st)
}

// errno converts a syscall error to the Errno a FUSE callback returns.
func errno(err error) syscall.Errno {
	return fs.ToErrno(err)
}
