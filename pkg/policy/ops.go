package policy

import "fmt"

// Op is one file operation a policy can filter: a member pair of
// struct fuse_ops (FUSE-BPF Generation A), in the ABI's member order.
type Op uint8

// The operations of struct fuse_ops, in member order.
const (
	OpOpen Op = iota
	OpOpendir
	OpCreateOpen
	OpRelease
	OpReleasedir
	OpFlush
	OpLseek
	OpCopyFileRange
	OpFsync
	OpDirFsync
	OpGetxattr
	OpListxattr
	OpSetxattr
	OpRemovexattr
	OpReadIter
	OpWriteIter
	OpFileFallocate
	OpLookup
	OpMknod
	OpMkdir
	OpRmdir
	OpRename2
	OpRename
	OpUnlink
	OpLink
	OpGetattr
	OpSetattr
	OpStatfs
	OpGetLink
	OpSymlink
	OpReaddir
	OpAccess
	// NumOps is the number of operations in struct fuse_ops.
	NumOps
)

type opInfo struct {
	name   string
	opcode uint32
}

// ops lists each operation's member stem and FUSE opcode (FUSE-BPF-ABI.md
// §1.5; the opcodes of get_link, read_iter, write_iter, create_open,
// dir_fsync and file_fallocate are inferred from their names).
var ops = [NumOps]opInfo{
	OpOpen:          {"open", 14},
	OpOpendir:       {"opendir", 27},
	OpCreateOpen:    {"create_open", 35},
	OpRelease:       {"release", 18},
	OpReleasedir:    {"releasedir", 29},
	OpFlush:         {"flush", 25},
	OpLseek:         {"lseek", 46},
	OpCopyFileRange: {"copy_file_range", 47},
	OpFsync:         {"fsync", 20},
	OpDirFsync:      {"dir_fsync", 30},
	OpGetxattr:      {"getxattr", 22},
	OpListxattr:     {"listxattr", 23},
	OpSetxattr:      {"setxattr", 21},
	OpRemovexattr:   {"removexattr", 24},
	OpReadIter:      {"read_iter", 15},
	OpWriteIter:     {"write_iter", 16},
	OpFileFallocate: {"file_fallocate", 43},
	OpLookup:        {"lookup", 1},
	OpMknod:         {"mknod", 8},
	OpMkdir:         {"mkdir", 9},
	OpRmdir:         {"rmdir", 11},
	OpRename2:       {"rename2", 45},
	OpRename:        {"rename", 12},
	OpUnlink:        {"unlink", 10},
	OpLink:          {"link", 13},
	OpGetattr:       {"getattr", 3},
	OpSetattr:       {"setattr", 4},
	OpStatfs:        {"statfs", 17},
	OpGetLink:       {"get_link", 5},
	OpSymlink:       {"symlink", 6},
	OpReaddir:       {"readdir", 28},
	OpAccess:        {"access", 34},
}

// String returns the operation's member stem, e.g. "lookup".
func (o Op) String() string {
	if o < NumOps {
		return ops[o].name
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Opcode returns the FUSE opcode the operation runs for.
func (o Op) Opcode() uint32 { return ops[o].opcode }

// Member returns the struct fuse_ops member name of the operation's
// prefilter or postfilter, e.g. "lookup_prefilter".
func (o Op) Member(post bool) string {
	if post {
		return ops[o].name + "_postfilter"
	}
	return ops[o].name + "_prefilter"
}

// OpByMember finds the operation of a struct fuse_ops member name.
func OpByMember(member string) (op Op, post bool, ok bool) {
	for i := range NumOps {
		switch member {
		case i.Member(false):
			return i, false, true
		case i.Member(true):
			return i, true, true
		}
	}
	return 0, false, false
}

// Filter-state-machine return codes (FUSE-BPF-ABI.md §1.7), and the bits
// ORed into the opcode a callback sees.
const (
	Continue       = 0
	User           = 1
	UserPrefilter  = 2
	Postfilter     = 3
	UserPostfilter = 4

	PrefilterBit  = 0x10000
	PostfilterBit = 0x20000
)
