package kernel

import "github.com/fusebpf-csi/fusebpf-csi/pkg/policy"

// The Generation A ABI as this package expects to find it in kernel BTF
// (FUSE-BPF-ABI.md §1, mainline uapi <linux/fuse.h> for the fuse_*
// structs). It is the single place to correct when the document changes;
// bpf/include/fuse_bpf.h describes the same ABI to policies, and a test
// checks that header's BTF against these tables.

// Type names the probe looks for.
const (
	// OpsStruct is the struct_ops type of FUSE-BPF Generation A.
	OpsStruct = "fuse_ops"
	// OpsValueStruct is the struct_ops value wrapper the kernel generates
	// for fuse_ops (BPF_STRUCT_OPS_TYPE, §1.1 [I]).
	OpsValueStruct = "bpf_struct_ops_fuse_ops"
	metaStruct     = "bpf_fuse_meta_info"
	bufferStruct   = "fuse_buffer"
)

// NameMax is BPF_FUSE_NAME_MAX: the size of fuse_ops.name including its
// NUL, and the longest root_bpf= the mount accepts (§1.2, §1.5).
const NameMax = 15

// Kfunc name sets (§1.6). A kernel must offer the read-only and read-write
// dynptr kfuncs of one set; the controller accepts either.
const (
	// KfuncsV3 is the set posted in RFC v3 and v4: bpf_fuse_get_ro_dynptr,
	// bpf_fuse_get_rw_dynptr.
	KfuncsV3 = "bpf_fuse_get"
	// KfuncsDynptrFrom is the set suggested in review of v3:
	// bpf_dynptr_from_fuse_buffer_ro, bpf_dynptr_from_fuse_buffer_rw.
	KfuncsDynptrFrom = "bpf_dynptr_from_fuse_buffer"
)

// kfuncSet is one naming of the FUSE dynptr kfuncs.
type kfuncSet struct {
	id     string
	ro, rw string
}

var kfuncSets = []kfuncSet{
	{KfuncsV3, "bpf_fuse_get_ro_dynptr", "bpf_fuse_get_rw_dynptr"},
	{KfuncsDynptrFrom, "bpf_dynptr_from_fuse_buffer_ro", "bpf_dynptr_from_fuse_buffer_rw"},
}

// Arity of the dynptr kfuncs: (buf, dynptr) and (buf, dynptr, size, copy).
const (
	roKfuncArity = 2
	rwKfuncArity = 4
)

// abiKfuncs are the kfuncs a policy may import, in the order they are
// described in the fingerprint and kept in the BTF subset: both FUSE sets,
// bpf_fuse_return_len, and the generic dynptr kfuncs the series relies on.
var abiKfuncs = []string{
	"bpf_fuse_get_ro_dynptr",
	"bpf_fuse_get_rw_dynptr",
	"bpf_fuse_return_len",
	"bpf_dynptr_from_fuse_buffer_ro",
	"bpf_dynptr_from_fuse_buffer_rw",
	"bpf_dynptr_slice",
	"bpf_dynptr_slice_rdwr",
	"bpf_dynptr_size",
}

// Parameter kinds of a callback prototype after the meta info: the name of
// the struct its pointer argument points to.
const (
	pBuf          = bufferStruct
	pOpenIn       = "fuse_open_in"
	pOpenOut      = "fuse_open_out"
	pCreateIn     = "fuse_create_in"
	pEntryOut     = "fuse_entry_out"
	pReleaseIn    = "fuse_release_in"
	pFlushIn      = "fuse_flush_in"
	pLseekIn      = "fuse_lseek_in"
	pLseekOut     = "fuse_lseek_out"
	pCopyIn       = "fuse_copy_file_range_in"
	pWriteOut     = "fuse_write_out"
	pFsyncIn      = "fuse_fsync_in"
	pGetxattrIn   = "fuse_getxattr_in"
	pGetxattrOut  = "fuse_getxattr_out"
	pSetxattrIn   = "fuse_setxattr_in"
	pReadIn       = "fuse_read_in"
	pReadIterOut  = "fuse_read_iter_out"
	pWriteIn      = "fuse_write_in"
	pWriteIterOut = "fuse_write_iter_out"
	pFallocateIn  = "fuse_fallocate_in"
	pMknodIn      = "fuse_mknod_in"
	pMkdirIn      = "fuse_mkdir_in"
	pRename2In    = "fuse_rename2_in"
	pRenameIn     = "fuse_rename_in"
	pLinkIn       = "fuse_link_in"
	pGetattrIn    = "fuse_getattr_in"
	pAttrOut      = "fuse_attr_out"
	pSetattrIn    = "fuse_setattr_in"
	pStatfsOut    = "fuse_statfs_out"
	pReadOut      = "fuse_read_out"
	pAccessIn     = "fuse_access_in"
)

// opProto lists, for one operation, the structs its prefilter and
// postfilter take by pointer after const struct bpf_fuse_meta_info *.
type opProto struct {
	pre, post []string
}

func ps(names ...string) []string { return names }

// protos is the table of §1.5 ([C], v3 28/37), indexed by policy.Op.
var protos = [policy.NumOps]opProto{
	policy.OpOpen:          {ps(pOpenIn), ps(pOpenIn, pOpenOut)},
	policy.OpOpendir:       {ps(pOpenIn), ps(pOpenIn, pOpenOut)},
	policy.OpCreateOpen:    {ps(pCreateIn, pBuf), ps(pCreateIn, pBuf, pEntryOut, pOpenOut)},
	policy.OpRelease:       {ps(pReleaseIn), ps(pReleaseIn)},
	policy.OpReleasedir:    {ps(pReleaseIn), ps(pReleaseIn)},
	policy.OpFlush:         {ps(pFlushIn), ps(pFlushIn)},
	policy.OpLseek:         {ps(pLseekIn), ps(pLseekIn, pLseekOut)},
	policy.OpCopyFileRange: {ps(pCopyIn), ps(pCopyIn, pWriteOut)},
	policy.OpFsync:         {ps(pFsyncIn), ps(pFsyncIn)},
	policy.OpDirFsync:      {ps(pFsyncIn), ps(pFsyncIn)},
	policy.OpGetxattr:      {ps(pGetxattrIn, pBuf), ps(pGetxattrIn, pBuf, pBuf, pGetxattrOut)},
	policy.OpListxattr:     {ps(pGetxattrIn), ps(pGetxattrIn, pBuf, pGetxattrOut)},
	policy.OpSetxattr:      {ps(pSetxattrIn, pBuf, pBuf), ps(pSetxattrIn, pBuf, pBuf)},
	policy.OpRemovexattr:   {ps(pBuf), ps(pBuf)},
	policy.OpReadIter:      {ps(pReadIn), ps(pReadIn, pReadIterOut)},
	policy.OpWriteIter:     {ps(pWriteIn), ps(pWriteIn, pWriteIterOut)},
	policy.OpFileFallocate: {ps(pFallocateIn), ps(pFallocateIn)},
	policy.OpLookup:        {ps(pBuf), ps(pBuf, pEntryOut, pBuf)},
	policy.OpMknod:         {ps(pMknodIn, pBuf), ps(pMknodIn, pBuf)},
	policy.OpMkdir:         {ps(pMkdirIn, pBuf), ps(pMkdirIn, pBuf)},
	policy.OpRmdir:         {ps(pBuf), ps(pBuf)},
	policy.OpRename2:       {ps(pRename2In, pBuf, pBuf), ps(pRename2In, pBuf, pBuf)},
	policy.OpRename:        {ps(pRenameIn, pBuf, pBuf), ps(pRenameIn, pBuf, pBuf)},
	policy.OpUnlink:        {ps(pBuf), ps(pBuf)},
	policy.OpLink:          {ps(pLinkIn, pBuf), ps(pLinkIn, pBuf)},
	policy.OpGetattr:       {ps(pGetattrIn), ps(pGetattrIn, pAttrOut)},
	policy.OpSetattr:       {ps(pSetattrIn), ps(pSetattrIn, pAttrOut)},
	policy.OpStatfs:        {ps(), ps(pStatfsOut)},
	policy.OpGetLink:       {ps(pBuf), ps(pBuf)},
	policy.OpSymlink:       {ps(pBuf, pBuf), ps(pBuf, pBuf)},
	policy.OpReaddir:       {ps(pReadIn), ps(pReadIn, pReadOut, pBuf)},
	policy.OpAccess:        {ps(pAccessIn), ps(pAccessIn)},
}

// memberProto is one expected fuse_ops function-pointer member.
type memberProto struct {
	name   string
	params []string // struct names after the meta info
}

// opsMembers returns the expected function-pointer members of fuse_ops in
// member order: each operation's prefilter, then its postfilter.
func opsMembers() []memberProto {
	out := make([]memberProto, 0, 2*int(policy.NumOps))
	for op := range policy.NumOps {
		out = append(out,
			memberProto{op.Member(false), protos[op].pre},
			memberProto{op.Member(true), protos[op].post})
	}
	return out
}

// field is one expected struct member: byte offset and size.
type field struct {
	name    string
	off     uint32
	size    uint32
	aliases []string // other names the same slot has had
	// optional fields may be absent; if present they must match.
	optional bool
}

// layout is one expected struct.
type layout struct {
	name string
	size uint32
	// altSize is another accepted size, for a struct whose trailing
	// optional fields may be absent (0: none).
	altSize  uint32
	fields   []field
	required bool // its absence breaks the ABI
}

func f(name string, off, size uint32) field { return field{name: name, off: off, size: size} }

// layouts are the structs of the ABI with their documented layouts. The
// required ones are those the callbacks receive; the others are kept in
// the BTF subset and the fingerprint when the kernel has them.
var layouts = []layout{
	{name: metaStruct, size: 24, altSize: 16, required: true, fields: []field{
		f("nodeid", 0, 8), f("opcode", 8, 4), f("error_in", 12, 4),
		// "WIP: add error_out" (v3 34/37): unused, may be missing [I].
		{name: "error_out", off: 16, size: 4, optional: true},
	}},
	{name: bufferStruct, size: 24, required: true, fields: []field{
		f("data", 0, 8), f("size", 8, 4), f("alloc_size", 12, 4), f("max_size", 16, 4), f("flags", 20, 4),
	}},
	{name: "fuse_attr", size: 88, required: true, fields: []field{
		f("ino", 0, 8), f("size", 8, 8), f("blocks", 16, 8), f("atime", 24, 8), f("mtime", 32, 8),
		f("ctime", 40, 8), f("atimensec", 48, 4), f("mtimensec", 52, 4), f("ctimensec", 56, 4),
		f("mode", 60, 4), f("nlink", 64, 4), f("uid", 68, 4), f("gid", 72, 4), f("rdev", 76, 4),
		f("blksize", 80, 4), f("flags", 84, 4),
	}},
	{name: "fuse_kstatfs", size: 80, required: true, fields: []field{
		f("blocks", 0, 8), f("bfree", 8, 8), f("bavail", 16, 8), f("files", 24, 8), f("ffree", 32, 8),
		f("bsize", 40, 4), f("namelen", 44, 4), f("frsize", 48, 4), f("padding", 52, 4), f("spare", 56, 24),
	}},
	{name: pEntryOut, size: 128, required: true, fields: []field{
		f("nodeid", 0, 8), f("generation", 8, 8), f("entry_valid", 16, 8), f("attr_valid", 24, 8),
		f("entry_valid_nsec", 32, 4), f("attr_valid_nsec", 36, 4), f("attr", 40, 88),
	}},
	{name: pGetattrIn, size: 16, required: true, fields: []field{
		f("getattr_flags", 0, 4), f("dummy", 4, 4), f("fh", 8, 8),
	}},
	{name: pAttrOut, size: 104, required: true, fields: []field{
		f("attr_valid", 0, 8), f("attr_valid_nsec", 8, 4), f("dummy", 12, 4), f("attr", 16, 88),
	}},
	{name: pMknodIn, size: 16, required: true, fields: []field{
		f("mode", 0, 4), f("rdev", 4, 4), f("umask", 8, 4), f("padding", 12, 4),
	}},
	{name: pMkdirIn, size: 8, required: true, fields: []field{f("mode", 0, 4), f("umask", 4, 4)}},
	{name: pRenameIn, size: 8, required: true, fields: []field{f("newdir", 0, 8)}},
	{name: pRename2In, size: 16, required: true, fields: []field{
		f("newdir", 0, 8), f("flags", 8, 4), f("padding", 12, 4),
	}},
	{name: pLinkIn, size: 8, required: true, fields: []field{f("oldnodeid", 0, 8)}},
	{name: pSetattrIn, size: 88, required: true, fields: []field{
		f("valid", 0, 4), f("padding", 4, 4), f("fh", 8, 8), f("size", 16, 8), f("lock_owner", 24, 8),
		f("atime", 32, 8), f("mtime", 40, 8), f("ctime", 48, 8), f("atimensec", 56, 4),
		f("mtimensec", 60, 4), f("ctimensec", 64, 4), f("mode", 68, 4), f("unused4", 72, 4),
		f("uid", 76, 4), f("gid", 80, 4), f("unused5", 84, 4),
	}},
	{name: pOpenIn, size: 8, required: true, fields: []field{f("flags", 0, 4), f("open_flags", 4, 4)}},
	{name: pCreateIn, size: 16, required: true, fields: []field{
		f("flags", 0, 4), f("mode", 4, 4), f("umask", 8, 4), f("open_flags", 12, 4),
	}},
	{name: pOpenOut, size: 16, required: true, fields: []field{
		f("fh", 0, 8), f("open_flags", 8, 4),
		// backing_id is 6.9's name for the old padding word (§5.1 [I]).
		{name: "backing_id", off: 12, size: 4, aliases: []string{"padding"}},
	}},
	{name: pReleaseIn, size: 24, required: true, fields: []field{
		f("fh", 0, 8), f("flags", 8, 4), f("release_flags", 12, 4), f("lock_owner", 16, 8),
	}},
	{name: pFlushIn, size: 24, required: true, fields: []field{
		f("fh", 0, 8), f("unused", 8, 4), f("padding", 12, 4), f("lock_owner", 16, 8),
	}},
	{name: pReadIn, size: 40, required: true, fields: []field{
		f("fh", 0, 8), f("offset", 8, 8), f("size", 16, 4), f("read_flags", 20, 4),
		f("lock_owner", 24, 8), f("flags", 32, 4), f("padding", 36, 4),
	}},
	{name: pWriteIn, size: 40, required: true, fields: []field{
		f("fh", 0, 8), f("offset", 8, 8), f("size", 16, 4), f("write_flags", 20, 4),
		f("lock_owner", 24, 8), f("flags", 32, 4), f("padding", 36, 4),
	}},
	{name: pWriteOut, size: 8, required: true, fields: []field{f("size", 0, 4), f("padding", 4, 4)}},
	{name: pStatfsOut, size: 80, required: true, fields: []field{f("st", 0, 80)}},
	{name: pFsyncIn, size: 16, required: true, fields: []field{
		f("fh", 0, 8), f("fsync_flags", 8, 4), f("padding", 12, 4),
	}},
	{name: pSetxattrIn, size: 16, required: true, fields: []field{
		f("size", 0, 4), f("flags", 4, 4), f("setxattr_flags", 8, 4), f("padding", 12, 4),
	}},
	{name: pGetxattrIn, size: 8, required: true, fields: []field{f("size", 0, 4), f("padding", 4, 4)}},
	{name: pGetxattrOut, size: 8, required: true, fields: []field{f("size", 0, 4), f("padding", 4, 4)}},
	{name: pAccessIn, size: 8, required: true, fields: []field{f("mask", 0, 4), f("padding", 4, 4)}},
	{name: pFallocateIn, size: 32, required: true, fields: []field{
		f("fh", 0, 8), f("offset", 8, 8), f("length", 16, 8), f("mode", 24, 4), f("padding", 28, 4),
	}},
	{name: pLseekIn, size: 24, required: true, fields: []field{
		f("fh", 0, 8), f("offset", 8, 8), f("whence", 16, 4), f("padding", 20, 4),
	}},
	{name: pLseekOut, size: 8, required: true, fields: []field{f("offset", 0, 8)}},
	{name: pCopyIn, size: 56, required: true, fields: []field{
		f("fh_in", 0, 8), f("off_in", 8, 8), f("nodeid_out", 16, 8), f("fh_out", 24, 8),
		f("off_out", 32, 8), f("len", 40, 8), f("flags", 48, 8),
	}},
	// FUSE-BPF additions (§1.3).
	{name: pReadOut, size: 16, required: true, fields: []field{
		f("offset", 0, 8), f("again", 8, 4), f("padding", 12, 4),
	}},
	{name: pReadIterOut, size: 8, required: true, fields: []field{f("ret", 0, 8)}},
	{name: pWriteIterOut, size: 8, required: true, fields: []field{f("ret", 0, 8)}},
	// Wire-protocol structs: not passed to callbacks, so not required, but
	// checked when present. fuse_bpf_entry_out's union puts name at 8 and
	// fd at 16 (§1.4).
	{name: "fuse_bpf_entry_out", size: 24, fields: []field{
		f("entry_type", 0, 4), f("unused", 4, 4),
	}},
	{name: "fuse_in_header", size: 40, fields: []field{
		f("len", 0, 4), f("opcode", 4, 4), f("unique", 8, 8), f("nodeid", 16, 8), f("uid", 24, 4),
		f("gid", 28, 4), f("pid", 32, 4), f("total_extlen", 36, 2), f("padding", 38, 2),
	}},
	{name: "fuse_out_header", size: 16, fields: []field{
		f("len", 0, 4), f("error", 4, 4), f("unique", 8, 8),
	}},
	{name: "fuse_ext_header", size: 8, fields: []field{f("size", 0, 4), f("type", 4, 4)}},
	{name: "fuse_dirent", size: 24, fields: []field{
		f("ino", 0, 8), f("off", 8, 8), f("namelen", 16, 4), f("type", 20, 4), f("name", 24, 0),
	}},
}

// layoutByName returns the expected layout of a struct, if it is part of
// the ABI.
func layoutByName(name string) (layout, bool) {
	for _, l := range layouts {
		if l.name == name {
			return l, true
		}
	}
	return layout{}, false
}
