package csi

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	mountutils "k8s.io/mount-utils"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/fusebpf"
)

const mountInfoPath = "/proc/self/mountinfo"

// mountSource is the source a volume's filtered mount shows in mountinfo;
// it ties a mount to its volume after a restart.
func mountSource(volumeID string) string { return "fusebpf:" + volumeID }

// mountTable is a snapshot of /proc/self/mountinfo. Reading it never
// touches a FUSE server, so it cannot hang on a dead or stuck mount.
type mountTable []mountutils.MountInfo

func readMounts() (mountTable, error) {
	mi, err := mountutils.ParseMountInfo(mountInfoPath)
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return mountTable(mi), nil
}

// at returns the topmost mount at path, or nil.
func (t mountTable) at(path string) *mountutils.MountInfo {
	var top *mountutils.MountInfo
	for i := range t {
		if t[i].MountPoint == path {
			top = &t[i]
		}
	}
	return top
}

// under returns the mount points strictly below dir.
func (t mountTable) under(dir string) []string {
	var out []string
	prefix := strings.TrimSuffix(dir, "/") + "/"
	for _, m := range t {
		if strings.HasPrefix(m.MountPoint, prefix) {
			out = append(out, m.MountPoint)
		}
	}
	return out
}

// withSource returns the mount points of the volume's filtered mounts
// (staging and bind targets alike).
func (t mountTable) withSource(volumeID string) []string {
	var out []string
	src := mountSource(volumeID)
	for _, m := range t {
		if m.FsType == fusebpf.FSType && m.Source == src {
			out = append(out, m.MountPoint)
		}
	}
	return out
}

// isVolumeMount reports whether m is a filtered mount of the volume.
func isVolumeMount(m *mountutils.MountInfo, volumeID string) bool {
	return m != nil && m.FsType == fusebpf.FSType && m.Source == mountSource(volumeID)
}

// readOnly reports whether a mount is read-only at the mount level.
func readOnly(m *mountutils.MountInfo) bool {
	for _, o := range m.MountOptions {
		if o == "ro" {
			return true
		}
	}
	return false
}

// timed runs f under a timeout (and the request's context). When either
// ends first, f goes on in the background, because a system call blocked on
// a FUSE server cannot be killed, and key stays pinned until f returns, so
// no other call touches the volume meanwhile (it gets codes.Aborted).
func (d *Driver) timed(ctx context.Context, key, what string, timeout time.Duration, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		unpin := d.locks.pin(key)
		go func() {
			<-done
			unpin()
		}()
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
}

// op bounds a mount, unmount or backing preparation step.
func (d *Driver) op(ctx context.Context, key, what string, f func() error) error {
	return d.timed(ctx, key, what, d.opts.OperationTimeout, f)
}

// health bounds a liveness check.
func (d *Driver) health(ctx context.Context, key, what string, f func() error) error {
	return d.timed(ctx, key, what, d.opts.HealthTimeout, f)
}

// bindMount bind-mounts source on target, then remounts the bind with the
// target's flags: MS_RDONLY when ro is set (a bind honours it only on the
// remount), plus extra (see bindFlags). Binds are always nosuid and nodev:
// a volume must not carry device nodes or setuid programs into a pod.
func bindMount(source, target string, ro bool, extra uintptr) error {
	if err := unix.Mount(source, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", source, target, err)
	}
	flags := unix.MS_REMOUNT | unix.MS_BIND | unix.MS_NOSUID | unix.MS_NODEV | extra
	if ro {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount("", target, "", flags, ""); err != nil {
		unix.Unmount(target, unix.MNT_DETACH)
		return fmt.Errorf("remount %s (read-only %v): %w", target, ro, err)
	}
	return nil
}

// unmountAll removes every filtered mount stacked at path, dead or alive,
// detaching lazily when a plain unmount fails. It refuses to touch anything
// else mounted there. Nothing mounted at path is not an error.
func unmountAll(path string) error {
	t, err := readMounts()
	if err != nil {
		return err
	}
	if m := t.at(path); m != nil && m.FsType != fusebpf.FSType {
		return fmt.Errorf("unmount %s: %w: %s is mounted there, not %s", path, ErrInUse, m.FsType, fusebpf.FSType)
	}
	return fusebpf.Unmount(path)
}

// removeDir removes an empty directory the driver created; never a tree, so
// a path that is still mounted (or holds data) is never emptied by mistake.
func removeDir(path string) error {
	err := os.Remove(path)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return fmt.Errorf("remove %s: %w", path, err)
}

// cleanPath validates an absolute path from a request.
func cleanPath(field, p string) (string, error) {
	if p == "" {
		return "", invalidf("%s is required", field)
	}
	if !filepath.IsAbs(p) {
		return "", invalidf("%s %q is not an absolute path", field, p)
	}
	return filepath.Clean(p), nil
}

// checkAlive reports whether path is a live filtered mount: nil, or an
// error wrapping fusebpf.ErrNotMounted or fusebpf.ErrDisconnected. On top
// of fusebpf.Check (a stat, which the kernel may answer from its attribute
// cache for a while after the server died) it calls statfs, which always
// reaches the FUSE server. It blocks on a hung server: run it under
// Driver.health.
func checkAlive(path string) error {
	if err := fusebpf.Check(path); err != nil {
		return err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		if errors.Is(err, unix.ENOTCONN) || errors.Is(err, unix.ECONNABORTED) {
			return fmt.Errorf("%s: %w", path, fusebpf.ErrDisconnected)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
