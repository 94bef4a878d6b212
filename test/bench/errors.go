package bench

import "errors"

// Errors of a run.
var (
	// ErrUnknownConfig means a configuration name is not one of the
	// package's constants.
	ErrUnknownConfig = errors.New("unknown configuration")
	// ErrNoPassthrough means the kernel refused FUSE passthrough, so the
	// comparison would measure the daemon's data path instead.
	ErrNoPassthrough = errors.New("kernel did not accept FUSE passthrough (needs Linux 6.9+ and CAP_SYS_ADMIN)")
	// ErrCheck means a workload's result was wrong (a count, a hidden
	// name that showed); the run's figures cannot be trusted.
	ErrCheck = errors.New("benchmark check failed")
)
