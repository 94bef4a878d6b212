package sanity

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
)

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// settle waits until f() drops to at most want; resources of finished
// servers are released asynchronously. The test's own timeout bounds it.
func settle(t *testing.T, what string, want int, f func() int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := f()
		if got <= want {
			return
		}
		if time.Now().After(deadline) {
			var buf bytes.Buffer
			if what == "goroutines" {
				pprof.Lookup("goroutine").WriteTo(&buf, 1)
			}
			t.Fatalf("%s: %d after teardown, %d before\n%s", what, got, want, buf.String())
		}
		runtime.GC()
		time.Sleep(50 * time.Millisecond)
	}
}

// lifecycle runs the calls for one volume and returns the first error.
func (dr *driver) up(base, name string) (vol, error) {
	r, err := dr.ctrl.CreateVolume(bg, &csipb.CreateVolumeRequest{Name: name, VolumeCapabilities: []*csipb.VolumeCapability{rwCap}})
	if err != nil {
		return vol{}, fmt.Errorf("create %s: %w", name, err)
	}
	v := vol{id: r.GetVolume().GetVolumeId(), staging: filepath.Join(base, name, "staging"), target: filepath.Join(base, name, "target")}
	if err := os.MkdirAll(v.staging, 0o755); err != nil {
		return v, err
	}
	if _, err := dr.node.NodeStageVolume(bg, &csipb.NodeStageVolumeRequest{VolumeId: v.id, StagingTargetPath: v.staging,
		VolumeCapability: rwCap, VolumeContext: r.GetVolume().GetVolumeContext()}); err != nil {
		return v, fmt.Errorf("stage %s: %w", name, err)
	}
	if _, err := dr.node.NodePublishVolume(bg, &csipb.NodePublishVolumeRequest{VolumeId: v.id, StagingTargetPath: v.staging,
		TargetPath: v.target, VolumeCapability: rwCap, VolumeContext: r.GetVolume().GetVolumeContext()}); err != nil {
		return v, fmt.Errorf("publish %s: %w", name, err)
	}
	return v, nil
}

func (dr *driver) down(v vol) error {
	if _, err := dr.node.NodeUnpublishVolume(bg, &csipb.NodeUnpublishVolumeRequest{VolumeId: v.id, TargetPath: v.target}); err != nil {
		return fmt.Errorf("unpublish %s: %w", v.id, err)
	}
	if _, err := dr.node.NodeUnstageVolume(bg, &csipb.NodeUnstageVolumeRequest{VolumeId: v.id, StagingTargetPath: v.staging}); err != nil {
		return fmt.Errorf("unstage %s: %w", v.id, err)
	}
	if _, err := dr.ctrl.DeleteVolume(bg, &csipb.DeleteVolumeRequest{VolumeId: v.id}); err != nil {
		return fmt.Errorf("delete %s: %w", v.id, err)
	}
	return nil
}

// TestConcurrentVolumes stages and publishes 50 volumes in parallel, uses
// each, tears them all down in parallel, and checks that no mount,
// goroutine or file descriptor is left behind.
func TestConcurrentVolumes(t *testing.T) {
	requireFUSE(t)
	base := testDir(t)
	dr := startDriver(t, options(base))
	// One full cycle first, so that what lives as long as the driver
	// (gRPC transports, pools) is part of the baseline.
	v, err := dr.up(base, "warmup")
	if err == nil {
		err = dr.down(v)
	}
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	baseG, baseFD := runtime.NumGoroutine(), countFDs(t)

	const n = 50
	vols := make([]vol, n)
	parallel := func(f func(i int) error) {
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = f(i)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	}
	parallel(func(i int) (err error) {
		vols[i], err = dr.up(base, fmt.Sprintf("vol-%02d", i))
		return err
	})
	if got := len(mountsUnder(t, base)); got != 2*n {
		t.Fatalf("%d mounts, want %d (a staging mount and a target per volume)", got, 2*n)
	}
	parallel(func(i int) error {
		want := fmt.Sprintf("volume %d", i)
		if err := os.WriteFile(vols[i].target+"/f", []byte(want), 0o644); err != nil {
			return err
		}
		b, err := os.ReadFile(vols[i].staging + "/f")
		if err != nil || string(b) != want {
			return fmt.Errorf("volume %d: read %q, %v", i, b, err)
		}
		return nil
	})
	parallel(func(i int) error { return dr.down(vols[i]) })

	if ms := mountsUnder(t, base); len(ms) != 0 {
		t.Fatalf("%d mounts leaked, first %s", len(ms), ms[0].MountPoint)
	}
	if ents, _ := os.ReadDir(base + "/data/volumes"); len(ents) != 0 {
		t.Errorf("%d local volume directories left", len(ents))
	}
	if ents, _ := os.ReadDir(base + "/data/state/node"); len(ents) != 0 {
		t.Errorf("%d node records left", len(ents))
	}
	settle(t, "goroutines", baseG, runtime.NumGoroutine)
	settle(t, "open file descriptors", baseFD, func() int { return countFDs(t) })
}

// TestConflictingCallsAbort: while a call on a volume is in flight, a
// second one on the same volume is refused with Aborted rather than queued.
func TestConflictingCalls(t *testing.T) {
	requireFUSE(t)
	base := testDir(t)
	dr := startDriver(t, options(base))
	// Many identical stages at once: every call either succeeds or is
	// Aborted, and the volume ends up staged exactly once.
	id := dr.create(t, "v", nil)
	staging := filepath.Join(base, "staging")
	if err := os.MkdirAll(staging, 0o755); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]int{}
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := dr.node.NodeStageVolume(bg, &csipb.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging, VolumeCapability: rwCap})
			mu.Lock()
			defer mu.Unlock()
			codes[statusCode(err)]++
		}()
	}
	wg.Wait()
	if codes["OK"] == 0 || codes["OK"]+codes["Aborted"] != 20 {
		t.Errorf("outcomes %v, want only OK and Aborted, at least one OK", codes)
	}
	if ms := mountsUnder(t, base); len(ms) != 1 {
		t.Errorf("%d mounts after concurrent stages, want 1", len(ms))
	}
	if _, err := dr.node.NodeUnstageVolume(bg, &csipb.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: staging}); err != nil {
		t.Fatal(err)
	}
}
