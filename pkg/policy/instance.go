package policy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/bpfvm"
)

// DefaultBudget is how many instructions one callback may execute in the
// userspace tier before the operation fails closed.
const DefaultBudget = 1 << 20

// metaSize is sizeof(struct bpf_fuse_meta_info): nodeid, opcode, error_in,
// error_out, padded to 8.
const metaSize = 24

// fuseBufferSize is sizeof(struct fuse_buffer).
const fuseBufferSize = 24

// InstanceOptions tune an Instance.
type InstanceOptions struct {
	// Budget is the per-callback instruction budget (DefaultBudget if 0).
	Budget uint64
	// Trace receives bpf_printk lines; nil drops them.
	Trace func(msg string)
}

// Instance is a policy with its parameters applied, running in the
// userspace interpreter: one per volume. It is safe for concurrent use.
type Instance struct {
	Policy *Policy
	// Values are the parameters the instance was built with.
	Values Values
	coll   *bpfvm.Collection
	progs  [NumOps][2]*bpfvm.Program
	budget uint64
}

// Instantiate applies values and builds the interpreter's programs and
// maps for one volume.
func (p *Policy) Instantiate(values Values, o InstanceOptions) (*Instance, error) {
	spec, err := p.Apply(values)
	if err != nil {
		return nil, err
	}
	vo := &bpfvm.Options{
		Budget: o.Budget,
		Kfuncs: map[string]bpfvm.HelperFunc{
			"bpf_fuse_get_ro_dynptr":         kfuncRODynptr,
			"bpf_dynptr_from_fuse_buffer_ro": kfuncRODynptr,
			"bpf_fuse_get_rw_dynptr":         kfuncRWDynptr,
			"bpf_dynptr_from_fuse_buffer_rw": kfuncRWDynptr,
			"bpf_fuse_return_len":            kfuncReturnLen,
		},
	}
	if o.Trace != nil {
		vo.Trace = func(_ *bpfvm.Run, msg string) { o.Trace(msg) }
	}
	coll, err := bpfvm.NewCollection(spec, vo)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidObject, err)
	}
	in := &Instance{Policy: p, Values: values, coll: coll, budget: o.Budget}
	if in.budget == 0 {
		in.budget = DefaultBudget
	}
	for _, c := range p.Callbacks {
		prog := coll.Programs[c.Program]
		if prog == nil {
			return nil, fmt.Errorf("%w: program %s missing from the interpreter's collection", ErrInvalidObject, c.Program)
		}
		in.progs[c.Op][b2i(c.Post)] = prog
	}
	return in, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Has reports whether the policy defines the callback.
func (in *Instance) Has(op Op, post bool) bool {
	return op < NumOps && in.progs[op][b2i(post)] != nil
}

// RingBuffer returns the instance's ring buffer map of that name (the
// audit policy's "events"), or nil.
func (in *Instance) RingBuffer(name string) *bpfvm.RingBuffer {
	if m := in.coll.Maps[name]; m != nil {
		return m.RingBuffer()
	}
	return nil
}

// callState is what the FUSE kfuncs need during one run.
type callState struct {
	bufs  [5]*Buffer
	addrs [5]uint64 // guest addresses of the fuse_buffer structs
	data  [5]uint64 // guest addresses of the buffers' bytes, once mapped
	rw    [5]bool   // data is mapped writable
	nbufs int

	// Guest memory of the run, pooled with it.
	meta   [metaSize]byte
	opaque [5][fuseBufferSize]byte
	ctx    [5 * 8]byte
}

var statePool = sync.Pool{New: func() any { return new(callState) }}

// Run runs one callback with c's arguments mapped into guest memory; what
// the callback writes to structs lands in their byte slices, and dynptr
// edits of buffers land in the Buffers. It returns the callback's result
// as a signed value (negative errno or a return code).
func (in *Instance) Run(op Op, post bool, c *Call) (int32, error) {
	prog := in.progs[op][b2i(post)]
	if prog == nil {
		return Continue, nil
	}
	if len(c.Args) > 4 {
		return 0, fmt.Errorf("%s: %d arguments, at most 4 after meta", op.Member(post), len(c.Args))
	}
	r := prog.NewRun()
	defer r.Release()
	r.SetBudget(in.budget)
	r.SetCaller(bpfvm.Caller{UID: c.Caller.UID, GID: c.Caller.GID, PID: c.Caller.PID, TGID: c.Caller.PID})
	st := statePool.Get().(*callState)
	*st = callState{}
	defer statePool.Put(st)
	r.SetData(st)

	meta := st.meta[:]
	binary.LittleEndian.PutUint64(meta[0:], c.NodeID)
	binary.LittleEndian.PutUint32(meta[8:], c.Opcode)
	binary.LittleEndian.PutUint32(meta[12:], uint32(c.ErrorIn))
	var args [5]uint64
	var err error
	if args[0], err = r.MapBytes(meta, bpfvm.ReadOnly); err != nil {
		return 0, err
	}
	// The fuse_buffer structs themselves are opaque (the kernel's verifier
	// refuses direct access): zeroes, read-only; only the kfuncs know
	// what they stand for.
	for i, a := range c.Args {
		if a.Buf != nil {
			if args[i+1], err = r.MapBytes(st.opaque[i][:], bpfvm.ReadOnly); err != nil {
				return 0, err
			}
			st.bufs[st.nbufs], st.addrs[st.nbufs] = a.Buf, args[i+1]
			st.nbufs++
			continue
		}
		if args[i+1], err = r.MapBytes(a.Struct, bpfvm.ReadWrite); err != nil {
			return 0, err
		}
	}
	// Like every struct_ops program (BPF_PROG), a callback gets one
	// pointer: to an array of its arguments as u64s.
	for i := 0; i <= len(c.Args); i++ {
		binary.LittleEndian.PutUint64(st.ctx[8*i:], args[i])
	}
	ctxAddr, err := r.MapBytes(st.ctx[:8*(1+len(c.Args))], bpfvm.ReadOnly)
	if err != nil {
		return 0, err
	}
	ret, err := r.Exec(ctxAddr)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op.Member(post), err)
	}
	return int32(uint32(ret)), nil
}

// errNotBuffer ends a run whose FUSE kfunc got a pointer that is not a
// fuse_buffer argument.
var errNotBuffer = errors.New("not a fuse_buffer argument")

func bufferAt(r *bpfvm.Run, addr uint64) (*callState, int, error) {
	st, ok := r.Data().(*callState)
	if !ok {
		return nil, 0, errNotBuffer
	}
	for i := 0; i < st.nbufs; i++ {
		if st.addrs[i] == addr {
			return st, i, nil
		}
	}
	return nil, 0, fmt.Errorf("%w: %#x", errNotBuffer, addr)
}

// kfuncRODynptr is bpf_fuse_get_ro_dynptr(buf, dynptr): a read-only view
// of the buffer's bytes.
func kfuncRODynptr(r *bpfvm.Run, bufAddr, dp, _, _, _ uint64) (uint64, error) {
	st, i, err := bufferAt(r, bufAddr)
	if err != nil {
		return 0, err
	}
	b := st.bufs[i]
	if st.data[i] == 0 {
		if st.data[i], err = r.MapBytes(b.Data, bpfvm.ReadOnly); err != nil {
			return 0, err
		}
	}
	return 0, r.InitDynptr(dp, st.data[i], uint32(len(b.Data)), bpfvm.ReadOnly)
}

// kfuncRWDynptr is bpf_fuse_get_rw_dynptr(buf, dynptr, size, copy): make
// the buffer writable at size bytes, following the kernel's rules
// (FUSE-BPF-ABI.md §1.6): an immutable buffer cannot be, a fixed-size one
// cannot change length, a variable-size one may grow to its maximum. On
// refusal the dynptr is set to NULL, so every access through it fails.
func kfuncRWDynptr(r *bpfvm.Run, bufAddr, dp, size, cp, _ uint64) (uint64, error) {
	st, i, err := bufferAt(r, bufAddr)
	if err != nil {
		return 0, err
	}
	b := st.bufs[i]
	if b.Flags&BufImmutable != 0 ||
		(size != uint64(len(b.Data)) && (b.Flags&BufVariableSize == 0 || size > uint64(b.MaxSize))) {
		return 0, r.SetDynptrNull(dp)
	}
	if size != uint64(len(b.Data)) || b.Flags&BufMustAllocate != 0 {
		nd := make([]byte, size)
		if cp != 0 {
			copy(nd, b.Data)
		}
		b.Data = nd
		b.Flags = b.Flags&^BufMustAllocate | BufAllocated
		st.data[i] = 0
	}
	b.Flags |= BufModified
	if st.data[i] == 0 || !st.rw[i] {
		if st.data[i], err = r.MapBytes(b.Data, bpfvm.ReadWrite); err != nil {
			return 0, err
		}
		st.rw[i] = true
	}
	return 0, r.InitDynptr(dp, st.data[i], uint32(len(b.Data)), bpfvm.ReadWrite)
}

// kfuncReturnLen is bpf_fuse_return_len(buf): the buffer's size.
func kfuncReturnLen(r *bpfvm.Run, bufAddr, _, _, _, _ uint64) (uint64, error) {
	st, i, err := bufferAt(r, bufAddr)
	if err != nil {
		return 0, err
	}
	return uint64(len(st.bufs[i].Data)), nil
}
