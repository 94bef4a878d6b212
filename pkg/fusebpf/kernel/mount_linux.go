package kernel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Defaults of a kernel-tier mount.
const (
	defaultSource  = "fusebpf"
	defaultSubtype = "fusebpf"
)

// fuseBPFMountKeys are the mount options only a FUSE-BPF kernel knows.
var fuseBPFMountKeys = []string{"root_dir", "root_bpf", "no_daemon"}

// MountRequest describes one kernel-tier mount.
type MountRequest struct {
	// Backing is the directory the mount serves (root_dir=).
	Backing string
	// Target is the mountpoint, an existing directory.
	Target string
	// Instance is the registered fuse_ops instance (root_bpf=).
	Instance string
	// NoDaemon mounts without a daemon; see NeedsDaemon.
	NoDaemon bool
	// ReadOnly makes both the superblock and the mount read-only.
	ReadOnly bool
	// Source is the mount source in mountinfo (default "fusebpf").
	Source string
	// Subtype makes the fstype "fuse.<Subtype>" (default "fusebpf").
	Subtype string
}

// KernelMount is a kernel-tier mount made by MountKernel.
type KernelMount struct {
	// Target is the mountpoint.
	Target string
	// Dev is the /dev/fuse connection a daemon must serve, nil with
	// NoDaemon. The caller owns it.
	Dev *os.File
}

// MountKernel mounts FUSE at req.Target in the kernel tier: the kernel
// serves req.Backing itself and runs the fuse_ops instance req.Instance
// on every operation. It uses the new mount API (fsopen, fsconfig,
// fsmount, move_mount) so the kernel's reason for a refused option can be
// reported, falling back to mount(2) where that API is missing. The mount
// is nosuid and nodev.
//
// On a kernel without FUSE-BPF the kernel refuses root_dir= and
// MountKernel returns an error that matches ErrNotSupported. On any error
// nothing is mounted and every descriptor it opened is closed.
func MountKernel(ctx context.Context, req MountRequest) (*KernelMount, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if req.Source == "" {
		req.Source = defaultSource
	}
	if req.Subtype == "" {
		req.Subtype = defaultSubtype
	}

	rootFD, err := unix.Open(req.Backing, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("mount %s: open backing %s: %w", req.Target, req.Backing, err)
	}
	defer unix.Close(rootFD)

	opts := MountOptions{
		DevFD:              -1,
		RootDirFD:          rootFD,
		RootBPF:            req.Instance,
		NoDaemon:           req.NoDaemon,
		AllowOther:         true,
		DefaultPermissions: true,
	}
	var dev *os.File
	if !req.NoDaemon {
		if dev, err = os.OpenFile(devFusePath, os.O_RDWR, 0); err != nil {
			return nil, fmt.Errorf("mount %s: %w", req.Target, err)
		}
		opts.DevFD = int(dev.Fd())
	}
	closeDev := func() {
		if dev != nil {
			dev.Close()
		}
	}
	if err := opts.Validate(); err != nil {
		closeDev()
		return nil, fmt.Errorf("mount %s: %w", req.Target, err)
	}

	err = mountNew(req, opts)
	if errors.Is(err, unix.ENOSYS) {
		err = mountLegacy(req, opts)
	}
	if err != nil {
		closeDev()
		return nil, fmt.Errorf("mount %s: %w", req.Target, err)
	}
	return &KernelMount{Target: req.Target, Dev: dev}, nil
}

func mountFlags(ro bool) uintptr {
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
	if ro {
		flags |= unix.MS_RDONLY
	}
	return flags
}

// mountLegacy mounts with mount(2), where the kernel cannot say which
// option it refused.
func mountLegacy(req MountRequest, opts MountOptions) error {
	err := unix.Mount(req.Source, req.Target, "fuse."+req.Subtype, mountFlags(req.ReadOnly), opts.String())
	if err != nil {
		return Explain(PhaseMount, fmt.Errorf("mount(2) %s: %w", opts.String(), err))
	}
	return nil
}

// mountNew mounts with fsopen/fsconfig/fsmount/move_mount. Nothing is
// attached to the tree before move_mount, so an error leaves no mount.
func mountNew(req MountRequest, opts MountOptions) error {
	fsfd, err := unix.Fsopen("fuse", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fsopen fuse: %w", err)
	}
	defer unix.Close(fsfd)

	set := func(key, value string) error {
		var err error
		if value == "" {
			err = unix.FsconfigSetFlag(fsfd, key)
		} else {
			err = unix.FsconfigSetString(fsfd, key, value)
		}
		if err == nil {
			return nil
		}
		msg := fsLog(fsfd)
		cause := fmt.Errorf("fsconfig %s: %w%s", key, err, msg)
		var errno unix.Errno
		if errors.As(err, &errno) && errno == unix.EINVAL && isFuseBPFKey(key) &&
			strings.Contains(msg, "Unknown parameter") {
			return &Error{
				Phase: PhaseMount, Errno: errno,
				Hint: "this kernel's FUSE has no FUSE-BPF mount options; use the userspace tier",
				Err: fmt.Errorf("%w: %w", &UnsupportedError{
					Feature: "FUSE-BPF mount option " + key,
					Reasons: []string{strings.TrimPrefix(msg, ": ")},
				}, err),
			}
		}
		return Explain(PhaseMount, cause)
	}

	if err := set("source", req.Source); err != nil {
		return err
	}
	if err := set("subtype", req.Subtype); err != nil {
		return err
	}
	for _, kv := range opts.pairs() {
		if err := set(kv[0], kv[1]); err != nil {
			return err
		}
	}
	if req.ReadOnly {
		if err := set("ro", ""); err != nil {
			return err
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return Explain(PhaseMount, fmt.Errorf("fsconfig create: %w%s", err, fsLog(fsfd)))
	}

	attrs := unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV
	if req.ReadOnly {
		attrs |= unix.MOUNT_ATTR_RDONLY
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return Explain(PhaseMount, fmt.Errorf("fsmount: %w%s", err, fsLog(fsfd)))
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, req.Target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return Explain(PhaseMount, fmt.Errorf("move_mount to %s: %w", req.Target, err))
	}
	return nil
}

func isFuseBPFKey(key string) bool {
	for _, k := range fuseBPFMountKeys {
		if k == key {
			return true
		}
	}
	return false
}

// fsLog drains the messages the kernel attached to a file-system context
// ("e fuse: Unknown parameter 'root_dir'"), formatted as ": msg; msg", or
// "" if there are none.
func fsLog(fsfd int) string {
	var msgs []string
	buf := make([]byte, 1024)
	for range 16 {
		n, err := unix.Read(fsfd, buf)
		if err != nil || n <= 0 {
			break
		}
		m := string(bytes.TrimSpace(buf[:n]))
		// Each message starts with its severity: "e ", "w " or "i ".
		if len(m) > 2 && m[1] == ' ' {
			m = m[2:]
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		return ""
	}
	return ": " + strings.Join(msgs, "; ")
}
