package kernel

import (
	"bufio"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func mountedAt(t *testing.T, target string) bool {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 && fields[4] == target {
			return true
		}
	}
	return false
}

// TestMountKernelOnStockKernel: the kernel refuses the FUSE-BPF mount
// options, MountKernel says so with an error matching ErrNotSupported, and
// leaves neither a mount nor an open descriptor behind.
func TestMountKernelOnStockKernel(t *testing.T) {
	if kernelHasFuseOps(t) {
		t.Skip("kernel has STRUCT fuse_ops: the refused-mount path cannot be reached")
	}
	if _, err := os.Stat(devFusePath); err != nil {
		t.Skipf("kernel has no FUSE: %v", err)
	}
	backing, target := t.TempDir(), t.TempDir()
	before := openFDs(t)

	for _, noDaemon := range []bool{false, true} {
		m, err := MountKernel(context.Background(), MountRequest{
			Backing: backing, Target: target, Instance: "fb0123456789", NoDaemon: noDaemon,
		})
		if err == nil {
			unix.Unmount(target, unix.MNT_DETACH)
			if m.Dev != nil {
				m.Dev.Close()
			}
			t.Fatalf("no_daemon=%t: kernel-tier mount succeeded on a kernel without fuse_ops", noDaemon)
		}
		t.Logf("no_daemon=%t: %v", noDaemon, err)
		var ke *Error
		if !errors.Is(err, ErrNotSupported) || !errors.As(err, &ke) || ke.Phase != PhaseMount || ke.Errno != unix.EINVAL {
			t.Errorf("no_daemon=%t: %v, want a mount-phase EINVAL matching ErrNotSupported", noDaemon, err)
		}
		if !strings.Contains(err.Error(), "root_dir") {
			t.Errorf("no_daemon=%t: error does not name the refused option root_dir: %v", noDaemon, err)
		}
		if mountedAt(t, target) {
			unix.Unmount(target, unix.MNT_DETACH)
			t.Errorf("no_daemon=%t: something is mounted at %s", noDaemon, target)
		}
		if after := openFDs(t); after != before {
			t.Errorf("no_daemon=%t: %d descriptors open, %d before", noDaemon, after, before)
		}
	}
}

func TestMountKernelRejectsBadRequests(t *testing.T) {
	backing, target := t.TempDir(), t.TempDir()
	before := openFDs(t)
	for _, tc := range []struct {
		name string
		req  MountRequest
		want error
	}{
		{"invalid instance name", MountRequest{Backing: backing, Target: target, Instance: "no-dashes", NoDaemon: true}, ErrInvalidMountOptions},
		{"missing backing", MountRequest{Backing: backing + "/missing", Target: target, Instance: "fb1", NoDaemon: true}, unix.ENOENT},
		{"backing not a directory", MountRequest{Backing: "/proc/self/status", Target: target, Instance: "fb1", NoDaemon: true}, unix.ENOTDIR},
	} {
		_, err := MountKernel(context.Background(), tc.req)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := MountKernel(ctx, MountRequest{Backing: backing, Target: target, Instance: "fb1"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	if mountedAt(t, target) {
		t.Errorf("something is mounted at %s", target)
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open, %d before", after, before)
	}
}
