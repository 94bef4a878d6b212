package kernel

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// TestExplainCoversABIErrors: every error of FUSE-BPF-ABI.md §1.9 gets a
// hint that names what to fix.
func TestExplainCoversABIErrors(t *testing.T) {
	for _, tc := range []struct {
		phase Phase
		errno unix.Errno
		hint  string // a word the fix must mention
	}{
		{PhaseLookupReply, unix.EINVAL, "FUSE_DEV_IOC_BPF_RESPONSE"},
		{PhaseLookupReply, unix.EBADF, "FUSE_ENTRY_BACKING"},
		{PhaseIoctl, unix.EINVAL, "page"},
		{PhaseIoctl, unix.ENOTTY, "no FUSE-BPF"},
		{PhaseMount, unix.EINVAL, "root_bpf"},
		{PhaseMount, unix.EINVAL, "root_dir"},
		{PhaseRegister, unix.EEXIST, "already registered"},
		{PhaseRegister, unix.EINVAL, "[A-Za-z0-9_.]"},
		{PhaseRegister, unix.EOPNOTSUPP, "fuse"},
		{PhaseLoad, unix.EACCES, "verifier"},
		{PhaseLoad, unix.EPERM, "CAP_BPF"},
	} {
		cause := fmt.Errorf("syscall: %w", tc.errno)
		err := Explain(tc.phase, cause)
		var ke *Error
		if !errors.As(err, &ke) || ke.Phase != tc.phase || ke.Errno != tc.errno {
			t.Errorf("%s %v: %#v", tc.phase, tc.errno, err)
			continue
		}
		if !strings.Contains(ke.Hint, tc.hint) || !strings.Contains(err.Error(), ke.Hint) {
			t.Errorf("%s %v: hint %q lacks %q", tc.phase, tc.errno, ke.Hint, tc.hint)
		}
		if !errors.Is(err, tc.errno) || !errors.Is(err, cause) {
			t.Errorf("%s %v: cause not wrapped", tc.phase, tc.errno)
		}
	}

	if Explain(PhaseMount, nil) != nil {
		t.Error("Explain(nil) is not nil")
	}
	plain := Explain(PhaseRegister, errors.New("no errno"))
	var ke *Error
	if !errors.As(plain, &ke) || ke.Hint != "" || ke.Errno != 0 {
		t.Errorf("error without errno: %#v", plain)
	}
	inner := Explain(PhaseMount, unix.EINVAL)
	wrapped := fmt.Errorf("wrapped: %w", inner)
	if got := Explain(PhaseRegister, wrapped); got != wrapped {
		t.Errorf("Explain re-wrapped a wrapped *Error: %v", got)
	}
	if got := Explain(PhaseRegister, inner); got != inner {
		t.Errorf("Explain re-wrapped an *Error: %v", got)
	}
}

func TestUnsupportedError(t *testing.T) {
	err := fmt.Errorf("stage: %w", &UnsupportedError{Feature: "FUSE-BPF struct_ops fuse_ops", Reasons: []string{"no STRUCT fuse_ops"}})
	if !errors.Is(err, ErrNotSupported) || !errors.Is(err, ebpf.ErrNotSupported) {
		t.Errorf("%v does not match ErrNotSupported", err)
	}
	if !strings.Contains(err.Error(), "no STRUCT fuse_ops") {
		t.Errorf("reasons missing from %q", err)
	}
}
