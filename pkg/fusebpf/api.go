package fusebpf

import (
	"errors"
	"time"
)

// FSType is the file system type of a userspace-tier mount as it appears in
// /proc/self/mountinfo.
const FSType = "fuse.fusebpf"

// Errors returned by this package.
var (
	// ErrNotMounted means a path is not the root of a fusebpf mount.
	ErrNotMounted = errors.New("not a fusebpf mount")
	// ErrDisconnected means the mount exists but its FUSE server is gone:
	// every access fails with ENOTCONN until it is unmounted.
	ErrDisconnected = errors.New("fusebpf mount disconnected")
	// ErrBusy means the mountpoint already has something mounted on it.
	ErrBusy = errors.New("mountpoint busy")
)

// MountOptions describe one filtered mount.
type MountOptions struct {
	// Backing is the directory the mount shows. It must exist.
	Backing string
	// Mountpoint is an existing empty directory to mount on.
	Mountpoint string
	// ReadOnly mounts with MS_RDONLY, so the kernel refuses writes before
	// they reach the daemon or the policy.
	ReadOnly bool
	// Source is the mount source shown in mountinfo (default "fusebpf").
	// The CSI node uses it to carry the volume ID.
	Source string
	// Filter is the volume's policy instance; nil allows everything.
	Filter Filter
	// Debug logs every FUSE request to stderr.
	Debug bool

	// cacheTTL overrides the kernel's entry and attribute cache lifetime
	// (tests).
	cacheTTL time.Duration
}
