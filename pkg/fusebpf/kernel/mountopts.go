package kernel

import (
	"fmt"
	"strconv"
	"strings"
)

// rootMode is the mode of the mount's root as the fuse rootmode= option
// takes it (octal S_IFDIR; the permission bits come from the backing
// directory in the kernel tier).
const rootMode = 0o40000

// MountOptions are the file-system options of a kernel-tier FUSE mount
// (FUSE-BPF-ABI.md §1.2).
type MountOptions struct {
	// DevFD is the /dev/fuse descriptor of the daemon (fd=). Ignored with
	// NoDaemon, which makes fd= unnecessary.
	DevFD int
	// RootDirFD is an open directory descriptor of the backing root
	// (root_dir=). The kernel takes its own reference, so it may be closed
	// once the mount exists.
	RootDirFD int
	// RootBPF is the registered fuse_ops instance for the root and,
	// by inheritance, everything below it (root_bpf=).
	RootBPF string
	// NoDaemon mounts without a daemon (no_daemon): valid only for a policy
	// that never returns a BPF_FUSE_USER* code (see NeedsDaemon).
	NoDaemon bool
	// UserID and GroupID are the mount owner (user_id=, group_id=); the
	// node plugin mounts as root, so both are normally 0.
	UserID, GroupID uint32
	// AllowOther lets users other than the owner use the mount
	// (allow_other): pods run as arbitrary uids.
	AllowOther bool
	// DefaultPermissions makes the kernel check mode bits itself
	// (default_permissions), as the backing file system would.
	DefaultPermissions bool
}

// Validate checks the options against the ABI: a valid instance name, a
// root_dir descriptor, and a device descriptor unless NoDaemon.
func (o MountOptions) Validate() error {
	if err := ValidateName(o.RootBPF); err != nil {
		return fmt.Errorf("root_bpf: %w: %w", err, ErrInvalidMountOptions)
	}
	if o.RootDirFD < 0 {
		return fmt.Errorf("root_dir=%d: %w", o.RootDirFD, ErrInvalidMountOptions)
	}
	if !o.NoDaemon && o.DevFD < 0 {
		return fmt.Errorf("fd=%d without no_daemon: %w", o.DevFD, ErrInvalidMountOptions)
	}
	return nil
}

// pairs returns the options as key/value pairs in order; a flag has an
// empty value.
func (o MountOptions) pairs() [][2]string {
	var kv [][2]string
	add := func(k, v string) { kv = append(kv, [2]string{k, v}) }
	// no_daemon sets fd_present itself, so fd= is left out with it (§1.2,
	// v3 24/37); whether a kernel would also accept fd= there is [?].
	if !o.NoDaemon {
		add("fd", strconv.Itoa(o.DevFD))
	}
	add("rootmode", strconv.FormatUint(rootMode, 8))
	add("user_id", strconv.FormatUint(uint64(o.UserID), 10))
	add("group_id", strconv.FormatUint(uint64(o.GroupID), 10))
	add("root_dir", strconv.Itoa(o.RootDirFD))
	add("root_bpf", o.RootBPF)
	if o.NoDaemon {
		add("no_daemon", "")
	}
	if o.AllowOther {
		add("allow_other", "")
	}
	if o.DefaultPermissions {
		add("default_permissions", "")
	}
	return kv
}

// String returns the comma-separated option string mount(2) takes, e.g.
// "fd=5,rootmode=40000,user_id=0,group_id=0,root_dir=6,root_bpf=fb0123456789,allow_other,default_permissions".
// Call Validate first.
func (o MountOptions) String() string {
	var b strings.Builder
	for i, kv := range o.pairs() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[0])
		if kv[1] != "" {
			b.WriteByte('=')
			b.WriteString(kv[1])
		}
	}
	return b.String()
}
