package kernel

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Errors returned by this package.
var (
	// ErrNotSupported means the running kernel lacks something the kernel
	// tier needs (FUSE-BPF, a struct_ops type, a mount option). It is
	// ebpf.ErrNotSupported, so callers may test for either.
	ErrNotSupported = ebpf.ErrNotSupported
	// ErrNoStructOps means a BPF object does not have exactly one
	// struct_ops map (a SEC(".struct_ops.link") variable).
	ErrNoStructOps = errors.New("object must have exactly one struct_ops map")
	// ErrInvalidName means an instance name breaks the registration rules:
	// 1 to 14 characters of [A-Za-z0-9_.].
	ErrInvalidName = errors.New("invalid struct_ops instance name")
	// ErrNameTaken means every candidate instance name for a volume was
	// already registered.
	ErrNameTaken = errors.New("no free struct_ops instance name")
	// ErrInvalidMountOptions means kernel-tier mount options are
	// incomplete or malformed.
	ErrInvalidMountOptions = errors.New("invalid kernel-tier mount options")
	// ErrSubsetTooLarge means the ABI's BTF subset exceeds MaxSubsetSize.
	ErrSubsetTooLarge = errors.New("btf subset too large")
)

// UnsupportedError reports a missing kernel feature and why it is
// considered missing. It matches [ErrNotSupported] (and so
// ebpf.ErrNotSupported) with errors.Is.
type UnsupportedError struct {
	// Feature is what is missing, e.g. "FUSE-BPF struct_ops fuse_ops".
	Feature string
	// Reasons are the individual findings, e.g. which BTF types are absent.
	Reasons []string
}

func (e *UnsupportedError) Error() string {
	if len(e.Reasons) == 0 {
		return e.Feature + " not supported by this kernel"
	}
	return fmt.Sprintf("%s not supported by this kernel: %s", e.Feature, strings.Join(e.Reasons, "; "))
}

// Unwrap returns [ErrNotSupported].
func (e *UnsupportedError) Unwrap() error { return ErrNotSupported }

// Phase is the step of the kernel tier an error came from; the same errno
// means different things in different phases (FUSE-BPF-ABI.md §1.9).
type Phase string

// Phases of the kernel tier.
const (
	// PhaseLoad is map creation and program load (the verifier).
	PhaseLoad Phase = "load"
	// PhaseRegister is the struct_ops map update and link creation that
	// register an instance under its name.
	PhaseRegister Phase = "register"
	// PhaseMount is the FUSE mount with root_dir/root_bpf.
	PhaseMount Phase = "mount"
	// PhaseLookupReply is a daemon's lookup reply carrying
	// fuse_bpf_entry_out entries.
	PhaseLookupReply Phase = "lookup reply"
	// PhaseIoctl is FUSE_DEV_IOC_BPF_RESPONSE on /dev/fuse.
	PhaseIoctl Phase = "ioctl"
)

// Error is a kernel-tier failure with a hint that says what to fix.
type Error struct {
	Phase Phase
	// Errno is the kernel's error number, 0 if there was none.
	Errno unix.Errno
	// Hint says what to change; empty if the errno is not one the ABI
	// documents for this phase.
	Hint string
	// Err is the underlying error.
	Err error
}

func (e *Error) Error() string {
	if e.Hint == "" {
		return fmt.Sprintf("%s: %v", e.Phase, e.Err)
	}
	return fmt.Sprintf("%s: %v (%s)", e.Phase, e.Err, e.Hint)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// errnoENOTSUPP is the kernel-internal ENOTSUPP (524) the BPF syscall
// returns for unsupported operations; x/sys/unix does not define it.
const errnoENOTSUPP = unix.Errno(524)

// hints maps (phase, errno) to what to fix, from FUSE-BPF-ABI.md §1.9 and
// the mainline BPF syscall's documented failures.
var hints = map[Phase]map[unix.Errno]string{
	PhaseLoad: {
		unix.EPERM:      "loading BPF needs CAP_BPF and CAP_SYS_ADMIN (CAP_PERFMON for some helpers); run the node plugin privileged",
		unix.EACCES:     "the kernel verifier rejected a program; read the verifier log and fix the policy, or use the userspace tier",
		unix.EINVAL:     "the kernel refused the object (unknown struct_ops member, kfunc or attach target); check the policy against this node's BTF with `fusebpf-csi policy check`",
		unix.E2BIG:      "a program or map exceeds the kernel's limits; simplify the policy",
		errnoENOTSUPP:   "this kernel cannot load this struct_ops type",
		unix.EOPNOTSUPP: "this kernel cannot load this struct_ops type",
	},
	PhaseRegister: {
		unix.EEXIST:     "an instance with this name is already registered; unregister it or choose another name (the loader retries with a new suffix)",
		unix.EINVAL:     "the instance name fails bpf_obj_name_cpy or a required callback is missing; use 1-14 characters of [A-Za-z0-9_.] and set the callbacks the type requires",
		unix.EOPNOTSUPP: "fuse is not registered in this kernel (module not loaded); load the fuse module or open /dev/fuse before registering",
		unix.EBUSY:      "the struct_ops map is already registered; create a new map for another instance",
	},
	PhaseMount: {
		unix.EINVAL: "a bad root_dir fd (it must be an open directory), a root_bpf name longer than 15 characters, or a root_bpf name that is not registered; register the fuse_ops instance before mounting",
		unix.EPERM:  "mounting FUSE needs CAP_SYS_ADMIN in the mount's user namespace",
		unix.ENODEV: "the fuse file system is not available; load the fuse module",
		unix.EBADF:  "the fd= or root_dir= descriptor is not open in the mounting process",
	},
	PhaseLookupReply: {
		unix.EINVAL: "malformed fuse_bpf_entry_out entries: send them with FUSE_DEV_IOC_BPF_RESPONSE, not write(); at most 2 entries of 24 bytes, unused=0, one backing and one bpf action, known types, a registered bpf name, no program change on an existing inode, and a FUSE_ENTRY_BACKING in a lookup the kernel did not handle",
		unix.EBADF:  "the FUSE_ENTRY_BACKING fd is not open in the daemon when it replies",
	},
	PhaseIoctl: {
		unix.EINVAL: "the reply passed to FUSE_DEV_IOC_BPF_RESPONSE is larger than a page",
		unix.ENOTTY: "this /dev/fuse does not know the ioctl: the kernel has no FUSE-BPF",
	},
}

// Explain wraps err, which phase returned, in an [*Error] whose hint says
// what to fix. It returns nil for a nil err and leaves an err that already
// is an *Error unchanged.
func Explain(phase Phase, err error) error {
	if err == nil {
		return nil
	}
	var ke *Error
	if errors.As(err, &ke) {
		return err
	}
	e := &Error{Phase: phase, Err: err}
	if errors.As(err, &e.Errno) {
		e.Hint = hints[phase][e.Errno]
	}
	return e
}
