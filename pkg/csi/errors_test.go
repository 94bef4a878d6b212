package csi

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/fusebpf"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/state"
)

func TestToStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code codes.Code
	}{
		{invalidParam("backing", "bad"), codes.InvalidArgument},
		{invalidf("volume ID is required"), codes.InvalidArgument},
		{fmt.Errorf("volume x: %w", state.ErrNotFound), codes.NotFound},
		{fmt.Errorf("volume x: %w", ErrVolumeNotFound), codes.NotFound},
		{fmt.Errorf("volume x: %w: %w", ErrVolumeNotFound, ErrWrongNode), codes.NotFound},
		{fmt.Errorf("volume x: %w", ErrWrongNode), codes.FailedPrecondition},
		{fmt.Errorf("volume x: %w", ErrAlreadyExists), codes.AlreadyExists},
		{fmt.Errorf("volume x: %w", ErrBusy), codes.Aborted},
		{fmt.Errorf("volume x: %w", ErrTopology), codes.ResourceExhausted},
		{fmt.Errorf("volume x: %w", ErrTierUnavailable), codes.FailedPrecondition},
		{fmt.Errorf("volume x: %w", fusebpf.ErrDisconnected), codes.FailedPrecondition},
		{fmt.Errorf("volume x: %w", fusebpf.ErrBusy), codes.FailedPrecondition},
		{fmt.Errorf("mount: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{status.Error(codes.Unavailable, "kept"), codes.Unavailable},
		{errors.New("disk on fire"), codes.Internal},
	} {
		st := toStatus(tc.err)
		if st.Code() != tc.code {
			t.Errorf("%v: code %s, want %s", tc.err, st.Code(), tc.code)
		}
		if st.Message() != tc.err.Error() && status.Code(tc.err) == codes.Unknown {
			t.Errorf("%v: message %q lost the error text", tc.err, st.Message())
		}
	}
}
