package fusebpf

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
	"k8s.io/klog/v2"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
)

// Filter is what the userspace tier needs of a policy instance:
// *policy.Instance implements it.
type Filter interface {
	// Has reports whether the policy defines the callback.
	Has(op policy.Op, post bool) bool
	// Run runs a callback and returns its result: a negative errno or one
	// of the policy return codes. An error means the run failed (budget,
	// memory fault); the operation then fails closed.
	Run(op policy.Op, post bool, c *policy.Call) (int32, error)
}

// filterState runs a volume's policy the way the FUSE-BPF kernel does
// (FUSE-BPF-ABI.md §1.7): prefilter; a negative result is the errno;
// CONTINUE runs the backing operation; POSTFILTER runs it and then the
// postfilter; a missing callback behaves as CONTINUE. The USER* codes ask
// for a userspace filter the daemon does not implement: the operation fails
// with EIO and the reason is logged.
type filterState struct {
	f      Filter
	logger klog.Logger
	// hasAny caches Has(op, false) per operation: most operations of most
	// policies have no callback and skip the machinery entirely.
	hasAny [policy.NumOps]bool
	// dataFilter is true when read or write is filtered: file data must
	// then go through the daemon, never passthrough.
	dataFilter bool
}

func newFilterState(f Filter, logger klog.Logger) *filterState {
	if f == nil {
		return nil
	}
	s := &filterState{f: f, logger: logger}
	for op := range policy.NumOps {
		s.hasAny[op] = f.Has(op, false)
	}
	s.dataFilter = s.hasAny[policy.OpReadIter] || s.hasAny[policy.OpWriteIter]
	return s
}

// active reports whether op has a prefilter (and so may need the
// machinery).
func (s *filterState) active(op policy.Op) bool {
	return s != nil && s.hasAny[op]
}

func callerOf(ctx context.Context) policy.Caller {
	if c, ok := fuse.FromContext(ctx); ok {
		return policy.Caller{UID: c.Uid, GID: c.Gid, PID: c.Pid}
	}
	return policy.Caller{}
}

// pre runs op's prefilter. It returns whether the postfilter must run
// after the backing operation, or the errno that ends the operation.
func (s *filterState) pre(ctx context.Context, op policy.Op, nodeID uint64, args ...policy.Arg) (post bool, e syscall.Errno) {
	if !s.active(op) {
		return false, 0
	}
	c := policy.Call{
		NodeID: nodeID,
		Opcode: op.Opcode() | policy.PrefilterBit,
		Caller: callerOf(ctx),
		Args:   args,
	}
	ret, err := s.f.Run(op, false, &c)
	return s.verdict(op, false, nodeID, ret, err)
}

// postRun runs op's postfilter after the backing operation ended with
// backErr. The result replaces the operation's result.
func (s *filterState) postRun(ctx context.Context, op policy.Op, nodeID uint64, backErr syscall.Errno, args ...policy.Arg) syscall.Errno {
	if !s.f.Has(op, true) {
		return backErr
	}
	c := policy.Call{
		NodeID:  nodeID,
		Opcode:  op.Opcode() | policy.PostfilterBit,
		ErrorIn: -int32(backErr),
		Caller:  callerOf(ctx),
		Args:    args,
	}
	ret, err := s.f.Run(op, true, &c)
	if _, e := s.verdict(op, true, nodeID, ret, err); e != 0 {
		return e
	}
	return backErr
}

func (s *filterState) verdict(op policy.Op, post bool, nodeID uint64, ret int32, err error) (bool, syscall.Errno) {
	if err != nil {
		s.logger.Error(err, "Policy callback failed; denying the operation", "callback", op.Member(post), "nodeID", nodeID)
		return false, syscall.EIO
	}
	switch {
	case ret < 0:
		return false, syscall.Errno(-ret)
	case ret == policy.Continue:
		return false, 0
	case ret == policy.Postfilter:
		return !post, 0
	default:
		s.logger.Error(nil, "Policy asked for a userspace filter this daemon has no hook for; denying the operation",
			"callback", op.Member(post), "nodeID", nodeID, "code", ret)
		return false, syscall.EIO
	}
}

// nameBuf makes a name argument. Names of entry-creating and -removing
// operations may not be rewritten once the prefilter ran; the ABI marks
// them immutable from then on.
//
// A name's size counts its NUL, as on the FUSE wire; a prefilter may
// rewrite it to any name up to NAME_MAX.
func nameBuf(name string, mutable bool) *policy.Buffer {
	b := &policy.Buffer{Data: append([]byte(name), 0), MaxSize: nameMax + 1, Flags: policy.BufVariableSize}
	if !mutable {
		b.Flags |= policy.BufImmutable
	}
	return b
}

const nameMax = 255

func bufArg(b *policy.Buffer) policy.Arg { return policy.Arg{Buf: b} }
