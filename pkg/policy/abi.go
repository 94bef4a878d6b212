package policy

import "unsafe"

// Go mirrors of the fixed-layout structs callbacks receive (the FUSE uapi
// layouts that FUSE-BPF Generation A passes by pointer). Field order and
// sizes match the C structs in bpf/include/fuse_bpf.h, which a test checks
// against that header's BTF; [StructBytes] hands their memory to the
// interpreter without copying.

// Attr is struct fuse_attr (88 bytes).
type Attr struct {
	Ino, Size, Blocks, Atime, Mtime, Ctime uint64
	Atimensec, Mtimensec, Ctimensec        uint32
	Mode, Nlink, UID, GID, Rdev, Blksize   uint32
	Flags                                  uint32
}

// EntryOut is struct fuse_entry_out (128 bytes).
type EntryOut struct {
	NodeID, Generation, EntryValid, AttrValid uint64
	EntryValidNsec, AttrValidNsec             uint32
	Attr                                      Attr
}

// AttrOut is struct fuse_attr_out (104 bytes).
type AttrOut struct {
	AttrValid     uint64
	AttrValidNsec uint32
	Dummy         uint32
	Attr          Attr
}

// OpenIn is struct fuse_open_in.
type OpenIn struct{ Flags, OpenFlags uint32 }

// OpenOut is struct fuse_open_out.
type OpenOut struct {
	Fh        uint64
	OpenFlags uint32
	BackingID int32
}

// CreateIn is struct fuse_create_in.
type CreateIn struct{ Flags, Mode, Umask, OpenFlags uint32 }

// MknodIn is struct fuse_mknod_in.
type MknodIn struct{ Mode, Rdev, Umask, Padding uint32 }

// MkdirIn is struct fuse_mkdir_in.
type MkdirIn struct{ Mode, Umask uint32 }

// RenameIn is struct fuse_rename_in.
type RenameIn struct{ Newdir uint64 }

// Rename2In is struct fuse_rename2_in.
type Rename2In struct {
	Newdir         uint64
	Flags, Padding uint32
}

// LinkIn is struct fuse_link_in.
type LinkIn struct{ Oldnodeid uint64 }

// GetattrIn is struct fuse_getattr_in.
type GetattrIn struct {
	GetattrFlags, Dummy uint32
	Fh                  uint64
}

// SetattrIn is struct fuse_setattr_in (88 bytes).
type SetattrIn struct {
	Valid, Padding                   uint32
	Fh, Size, LockOwner              uint64
	Atime, Mtime, Ctime              uint64
	Atimensec, Mtimensec, Ctimensec  uint32
	Mode, Unused4, UID, GID, Unused5 uint32
}

// GetxattrIn is struct fuse_getxattr_in.
type GetxattrIn struct{ Size, Padding uint32 }

// GetxattrOut is struct fuse_getxattr_out.
type GetxattrOut struct{ Size, Padding uint32 }

// SetxattrIn is struct fuse_setxattr_in.
type SetxattrIn struct{ Size, Flags, SetxattrFlags, Padding uint32 }

// ReadIn is struct fuse_read_in.
type ReadIn struct {
	Fh, Offset      uint64
	Size, ReadFlags uint32
	LockOwner       uint64
	Flags, Padding  uint32
}

// WriteIn is struct fuse_write_in.
type WriteIn struct {
	Fh, Offset       uint64
	Size, WriteFlags uint32
	LockOwner        uint64
	Flags, Padding   uint32
}

// ReadOut is struct fuse_read_out (readdir's output).
type ReadOut struct {
	Offset         uint64
	Again, Padding uint32
}

// IterOut is struct fuse_read_iter_out / fuse_write_iter_out.
type IterOut struct{ Ret uint64 }

// FallocateIn is struct fuse_fallocate_in.
type FallocateIn struct {
	Fh, Offset, Length uint64
	Mode, Padding      uint32
}

// AccessIn is struct fuse_access_in.
type AccessIn struct{ Mask, Padding uint32 }

// CopyFileRangeIn is struct fuse_copy_file_range_in.
type CopyFileRangeIn struct {
	FhIn, OffIn, NodeIDOut, FhOut, OffOut, Len, Flags uint64
}

// WriteOut is struct fuse_write_out.
type WriteOut struct{ Size, Padding uint32 }

// StatfsOut is struct fuse_statfs_out (a struct fuse_kstatfs).
type StatfsOut struct {
	Blocks, Bfree, Bavail, Files, Ffree uint64
	Bsize, Namelen, Frsize, Padding     uint32
	Spare                               [6]uint32
}

// ReleaseIn is struct fuse_release_in.
type ReleaseIn struct {
	Fh                  uint64
	Flags, ReleaseFlags uint32
	LockOwner           uint64
}

// FlushIn is struct fuse_flush_in.
type FlushIn struct {
	Fh              uint64
	Unused, Padding uint32
	LockOwner       uint64
}

// FsyncIn is struct fuse_fsync_in.
type FsyncIn struct {
	Fh                  uint64
	FsyncFlags, Padding uint32
}

// LseekIn is struct fuse_lseek_in.
type LseekIn struct {
	Fh, Offset      uint64
	Whence, Padding uint32
}

// LseekOut is struct fuse_lseek_out.
type LseekOut struct{ Offset uint64 }

// abiStruct lists the mirrored structs, for StructBytes.
type abiStruct interface {
	Attr | EntryOut | AttrOut | OpenIn | OpenOut | CreateIn | MknodIn | MkdirIn |
		RenameIn | Rename2In | LinkIn | GetattrIn | SetattrIn | GetxattrIn |
		GetxattrOut | SetxattrIn | ReadIn | WriteIn | ReadOut | IterOut |
		FallocateIn | AccessIn | CopyFileRangeIn | WriteOut | StatfsOut |
		ReleaseIn | FlushIn | FsyncIn | LseekIn | LseekOut
}

// StructBytes returns the memory of an ABI struct as bytes, without
// copying: what a callback writes through its pointer lands in *p.
func StructBytes[T abiStruct](p *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), unsafe.Sizeof(*p))
}

// StructArg wraps an ABI struct as a callback argument.
func StructArg[T abiStruct](p *T) Arg { return Arg{Struct: StructBytes(p)} }
