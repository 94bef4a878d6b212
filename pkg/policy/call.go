package policy

// Caller identifies the process behind a file operation, from the FUSE
// request header. Callbacks see it through bpf_get_current_uid_gid and
// bpf_get_current_pid_tgid.
type Caller struct {
	UID, GID, PID uint32
}

// Flags of a fuse_buffer (FUSE-BPF-ABI.md §1.6). The kernel sets the first
// three; the kfuncs set the others.
const (
	BufImmutable    = 1 << 0
	BufVariableSize = 1 << 1
	BufMustAllocate = 1 << 2
	BufModified     = 1 << 3
	BufAllocated    = 1 << 4
)

// Buffer is a struct fuse_buffer argument: a name, an xattr value, or
// readdir's dirents. Callbacks reach its bytes only through the dynptr
// kfuncs, which enforce Flags: an immutable buffer cannot be made writable,
// and only a variable-size buffer can change length, up to MaxSize.
type Buffer struct {
	Data    []byte
	MaxSize int
	Flags   uint32
}

// Arg is one callback argument after the meta info: a fixed-layout
// fuse_*_in or fuse_*_out struct (its exact Generation A bytes, which the
// callback may modify), or a Buffer.
type Arg struct {
	Struct []byte
	Buf    *Buffer
}

// Call is one invocation of a callback.
type Call struct {
	NodeID  uint64 // FUSE node ID (the parent directory for entry operations)
	Opcode  uint32 // base opcode | PrefilterBit or PostfilterBit
	ErrorIn int32  // postfilter: the backing operation's result, 0 or -errno
	Caller  Caller
	Args    []Arg
}
