// Package version reports what build of fusebpf-csi is running.
//
// [Version] is set at link time:
//
//	go build -ldflags "-X github.com/fusebpf-csi/fusebpf-csi/pkg/version.Version=v0.1.0" ./cmd/driver
//
// (the Makefile's build target does this from git describe).
package version
