package csi

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/fusebpf"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/state"
)

// Errors of the driver. Handlers wrap them with context; [toStatus] turns
// them into gRPC codes at the boundary.
var (
	// ErrInvalidArgument means a request field or parameter is missing or
	// malformed (codes.InvalidArgument).
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrVolumeNotFound means the volume does not exist here
	// (codes.NotFound).
	ErrVolumeNotFound = errors.New("volume not found")
	// ErrAlreadyExists means a volume exists with the same name or at the
	// same path but different, incompatible attributes
	// (codes.AlreadyExists).
	ErrAlreadyExists = errors.New("volume exists with different attributes")
	// ErrNotStaged means NodePublishVolume found no live filtered mount
	// of the volume at the staging path (codes.FailedPrecondition).
	ErrNotStaged = errors.New("volume not staged")
	// ErrInUse means a volume cannot be deleted or unstaged while it is
	// mounted (codes.FailedPrecondition).
	ErrInUse = errors.New("volume in use")
	// ErrWrongNode means a volume ID names another node
	// (codes.FailedPrecondition for deletion, NotFound on the node).
	ErrWrongNode = errors.New("volume belongs to another node")
	// ErrTierUnavailable means the enforcement tier the volume requires
	// cannot run on this node (codes.FailedPrecondition).
	ErrTierUnavailable = errors.New("enforcement tier unavailable on this node")
	// ErrPolicyChanged means a staged volume's policy object is no longer
	// the one it was staged with, or no longer loads: the volume is not
	// served rather than served under another policy.
	ErrPolicyChanged = errors.New("volume policy changed or unusable")
	// ErrUnhealthy means a volume's filtered mount is dead or does not
	// answer (codes.FailedPrecondition).
	ErrUnhealthy = errors.New("volume condition abnormal")
	// ErrBusy means another call on the same volume or name is in
	// progress, or an earlier one is still stuck (codes.Aborted).
	ErrBusy = errors.New("operation already in progress")
	// ErrTopology means the requested topology excludes this node
	// (codes.ResourceExhausted, as the CSI spec asks).
	ErrTopology = errors.New("topology requirement cannot be met")
)

// paramError is an invalid StorageClass parameter or volume context key.
type paramError struct {
	key, msg string
}

func (e *paramError) Error() string        { return fmt.Sprintf("parameter %q: %s", e.key, e.msg) }
func (e *paramError) Is(target error) bool { return target == ErrInvalidArgument }

func invalidParam(key, format string, args ...any) error {
	return &paramError{key: key, msg: fmt.Sprintf(format, args...)}
}

// invalidf returns an ErrInvalidArgument error with a message.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))
}

// toStatus maps an error to a gRPC status. Errors that already carry a
// status keep it.
func toStatus(err error) *status.Status {
	if err == nil {
		return nil
	}
	if st, ok := status.FromError(err); ok {
		return st
	}
	var code codes.Code
	switch {
	case errors.Is(err, ErrInvalidArgument), errors.Is(err, state.ErrInvalidID):
		code = codes.InvalidArgument
	case errors.Is(err, ErrVolumeNotFound), errors.Is(err, state.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, ErrAlreadyExists):
		code = codes.AlreadyExists
	case errors.Is(err, ErrBusy):
		code = codes.Aborted
	case errors.Is(err, ErrTopology):
		code = codes.ResourceExhausted
	case errors.Is(err, ErrNotStaged), errors.Is(err, ErrInUse), errors.Is(err, ErrWrongNode),
		errors.Is(err, ErrTierUnavailable), errors.Is(err, ErrUnhealthy), errors.Is(err, ErrPolicyChanged),
		errors.Is(err, fusebpf.ErrBusy), errors.Is(err, fusebpf.ErrDisconnected),
		errors.Is(err, fusebpf.ErrNotMounted):
		code = codes.FailedPrecondition
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	default:
		code = codes.Internal
	}
	return status.New(code, err.Error())
}
