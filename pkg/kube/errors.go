package kube

import "errors"

// Errors returned by this package. Errors from the policy package
// (policy.ErrInvalidObject, policy.ErrInvalidParameter,
// policy.ErrUnknownBuiltin) are wrapped alongside ErrPolicyInvalid, so a
// caller can tell what is wrong with errors.Is.
var (
	// ErrPolicyNotFound means no FilterPolicy has the name.
	ErrPolicyNotFound = errors.New("filter policy not found")
	// ErrPolicyInvalid means the FilterPolicy fails the static checks or
	// its default parameters do not fit the object.
	ErrPolicyInvalid = errors.New("filter policy invalid")
	// ErrNoAccessibleNode means no node can enforce the policy with the
	// requested enforcement.
	ErrNoAccessibleNode = errors.New("no node can enforce the policy")
	// ErrInvalidEnforcement means an enforcement other than auto, kernel
	// or userspace.
	ErrInvalidEnforcement = errors.New("invalid enforcement")
	// ErrNodeNotFound means the Node a FuseBPFNode would belong to does
	// not exist.
	ErrNodeNotFound = errors.New("node not found")
	// ErrNotStarted means a Resolver was used before Start.
	ErrNotStarted = errors.New("resolver not started")
)
