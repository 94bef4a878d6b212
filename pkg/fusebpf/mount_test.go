package fusebpf

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// requireFUSE skips when the kernel offers no FUSE device.
func requireFUSE(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount FUSE")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("kernel has no FUSE: %v", err)
	}
}

type testMount struct {
	backing, mnt string
	srv          *Server
}

// mountT mounts a fresh backing directory (or o.Backing) and unmounts it
// when the test ends.
func mountT(t testing.TB, o MountOptions) *testMount {
	t.Helper()
	requireFUSE(t)
	dir := t.TempDir()
	if o.Backing == "" {
		o.Backing = filepath.Join(dir, "backing")
		if err := os.Mkdir(o.Backing, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	o.Mountpoint = filepath.Join(dir, "mnt")
	if err := os.Mkdir(o.Mountpoint, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := Mount(ctx, o)
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("Unmount: %v", err)
		}
	})
	return &testMount{backing: o.Backing, mnt: o.Mountpoint, srv: srv}
}

func TestMountVerifiedAndUnmounted(t *testing.T) {
	m := mountT(t, MountOptions{})
	if err := Check(m.mnt); err != nil {
		t.Fatalf("Check on live mount: %v", err)
	}
	if !m.srv.Passthrough() {
		t.Log("kernel did not accept FUSE passthrough; data goes through the daemon")
	}
	if err := m.srv.Unmount(); err != nil {
		t.Fatal(err)
	}
	if err := Check(m.mnt); err == nil {
		t.Fatal("Check after unmount: want ErrNotMounted")
	}
}

func TestMountBadInput(t *testing.T) {
	requireFUSE(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	ctx := context.Background()
	for name, o := range map[string]MountOptions{
		"missing backing":    {Backing: filepath.Join(dir, "nope"), Mountpoint: dir},
		"missing mountpoint": {Backing: dir, Mountpoint: filepath.Join(dir, "nope")},
		"file mountpoint":    {Backing: dir, Mountpoint: file},
		"empty":              {},
	} {
		if srv, err := Mount(ctx, o); err == nil {
			srv.Unmount()
			t.Errorf("%s: Mount succeeded", name)
		}
	}
	// A busy mountpoint is refused and the first mount stays intact.
	m := mountT(t, MountOptions{})
	if srv, err := Mount(ctx, MountOptions{Backing: dir, Mountpoint: m.mnt}); err == nil {
		srv.Unmount()
		t.Fatal("second mount on a busy mountpoint succeeded")
	}
	if err := Check(m.mnt); err != nil {
		t.Fatalf("first mount damaged: %v", err)
	}
}

func TestReadOnlyByMountFlags(t *testing.T) {
	m := mountT(t, MountOptions{ReadOnly: true})
	os.WriteFile(filepath.Join(m.backing, "f"), []byte("x"), 0o644)
	if _, err := os.ReadFile(filepath.Join(m.mnt, "f")); err != nil {
		t.Fatal(err)
	}
	err := os.WriteFile(filepath.Join(m.mnt, "g"), nil, 0o644)
	if !isErrno(err, 30 /* EROFS */) {
		t.Fatalf("create on ro mount: %v, want EROFS", err)
	}
	if _, err := os.Stat(filepath.Join(m.backing, "g")); !os.IsNotExist(err) {
		t.Fatal("backing changed by a write to a read-only mount")
	}
}
