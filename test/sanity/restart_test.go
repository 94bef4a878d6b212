package sanity

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
)

// buildDriver builds the fusebpf-csi binary once per test binary run.
func buildDriver(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fusebpf-csi")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/fusebpf-csi/fusebpf-csi/cmd/driver")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serveProc is a running "fusebpf-csi serve".
type serveProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
	log  string
	dr   *driver
}

func startServe(t *testing.T, bin, base string, extra ...string) *serveProc {
	t.Helper()
	log := filepath.Join(base, fmt.Sprintf("serve-%d.log", len(mountsUnder(t, base))))
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	args := append([]string{"serve", "--endpoint", "unix://" + base + "/csi.sock", "--nodeid", testNode,
		"--data-dir", base + "/data", "--allowed-backing-root", base + "/datasets", "-v", "4"}, extra...)
	p := &serveProc{cmd: exec.Command(bin, args...), done: make(chan struct{}), log: log}
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			b, _ := os.ReadFile(log)
			t.Logf("serve log %s:\n%s", log, b)
		}
	})
	p.dr = connect(t, base+"/csi.sock")
	return p
}

// stop signals the process and waits for it to exit.
func (p *serveProc) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	<-p.done
	return p.err
}

// TestRestart stops "fusebpf-csi serve" with volumes staged and published,
// starts it again on the same data directory, and checks that the new
// process re-serves the mounts that died with the old one (or, with
// recovery off or the backing gone, reports them abnormal) and can
// unpublish, unstage and delete everything.
func TestRestart(t *testing.T) {
	requireFUSE(t)
	bin := buildDriver(t)
	for _, tc := range []struct {
		name    string
		sig     syscall.Signal
		recover bool
	}{
		{"SIGTERM", syscall.SIGTERM, true},
		{"SIGKILL", syscall.SIGKILL, true},
		{"SIGKILL without recovery", syscall.SIGKILL, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := testDir(t)
			for _, d := range []string{"datasets/ds", "datasets/lost"} {
				if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			p := startServe(t, bin, base)
			vols := map[string]vol{
				"local": p.dr.stagePublish(t, base, "local", nil, rwCap, false),
				"ro":    p.dr.stagePublish(t, base, "ro", nil, rwCap, true),
				"host":  p.dr.stagePublish(t, base, "host", map[string]string{"backing": "hostPath", "backingPath": base + "/datasets/ds"}, rwCap, false),
				"lost":  p.dr.stagePublish(t, base, "lost", map[string]string{"backing": "hostPath", "backingPath": base + "/datasets/lost"}, rwCap, false),
			}
			for name, v := range vols {
				if name == "ro" {
					continue
				}
				if err := os.WriteFile(v.target+"/f", []byte(name), 0o644); err != nil {
					t.Fatal(err)
				}
			}

			err := p.stop(t, tc.sig)
			if tc.sig == syscall.SIGTERM && err != nil {
				t.Fatalf("serve after SIGTERM: %v, want a clean exit", err)
			}
			// The premise: the mounts died with the process.
			for name, v := range vols {
				var st unix.Statfs_t
				if err := unix.Statfs(v.target, &st); !errors.Is(err, unix.ENOTCONN) {
					t.Fatalf("%s: statfs of the target after the plugin stopped: %v, want ENOTCONN", name, err)
				}
			}
			// One backing disappears while the plugin is down.
			if err := os.Rename(base+"/datasets/lost", base+"/datasets/lost.moved"); err != nil {
				t.Fatal(err)
			}

			p2 := startServe(t, bin, base, "--recover-mounts="+strconv.FormatBool(tc.recover))
			dr := p2.dr
			for name, v := range vols {
				healthy := tc.recover && name != "lost"
				_, serr := dr.node.NodeGetVolumeStats(bg, &csipb.NodeGetVolumeStatsRequest{VolumeId: v.id, VolumePath: v.target})
				h, herr := dr.node.NodeGetVolumeHealth(bg, &csipb.NodeGetVolumeHealthRequest{VolumeId: v.id})
				if herr != nil {
					t.Fatalf("%s: NodeGetVolumeHealth: %v", name, herr)
				}
				statuses := h.GetVolumeHealth().GetHealthStatuses()
				if healthy {
					if serr != nil || len(statuses) != 0 {
						t.Errorf("%s: after restart: stats %v, health %v; want a re-served volume", name, serr, statuses)
					}
					if name != "ro" {
						if b, err := os.ReadFile(v.target + "/f"); err != nil || string(b) != name {
							t.Errorf("%s: read through the re-bound target: %q, %v", name, b, err)
						}
					} else if err := os.WriteFile(v.target+"/x", nil, 0o644); !errors.Is(err, unix.EROFS) {
						t.Errorf("ro: write after restart: %v, want EROFS (read-only must survive the re-bind)", err)
					}
					continue
				}
				wantCode(t, serr, codes.FailedPrecondition, "abnormal")
				if len(statuses) != 1 || statuses[0].GetStatus() != csipb.VolumeHealthErrorType_INACCESSIBLE {
					t.Errorf("%s: health %v, want INACCESSIBLE", name, statuses)
				}
				// Fail closed: still no access to anything.
				if _, err := os.Stat(v.target + "/f"); !errors.Is(err, unix.ENOTCONN) {
					t.Errorf("%s: stat through a dead target: %v, want ENOTCONN", name, err)
				}
			}

			for name, v := range vols {
				if _, err := dr.node.NodeUnpublishVolume(bg, &csipb.NodeUnpublishVolumeRequest{VolumeId: v.id, TargetPath: v.target}); err != nil {
					t.Errorf("%s: NodeUnpublishVolume after restart: %v", name, err)
				}
				if _, err := dr.node.NodeUnstageVolume(bg, &csipb.NodeUnstageVolumeRequest{VolumeId: v.id, StagingTargetPath: v.staging}); err != nil {
					t.Errorf("%s: NodeUnstageVolume after restart: %v", name, err)
				}
				if _, err := os.Stat(v.target); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s: target not removed: %v", name, err)
				}
				if _, err := dr.ctrl.DeleteVolume(bg, &csipb.DeleteVolumeRequest{VolumeId: v.id}); err != nil {
					t.Errorf("%s: DeleteVolume: %v", name, err)
				}
			}
			if ms := mountsUnder(t, base); len(ms) != 0 {
				t.Errorf("%d mounts left, first %s", len(ms), ms[0].MountPoint)
			}
			if ents, _ := os.ReadDir(base + "/data/state/node"); len(ents) != 0 {
				t.Errorf("%d node records left", len(ents))
			}
			if b, err := os.ReadFile(base + "/datasets/ds/f"); err != nil || string(b) != "host" {
				t.Errorf("hostPath dataset after delete: %q, %v", b, err)
			}
			if err := p2.stop(t, syscall.SIGTERM); err != nil {
				t.Errorf("serve after SIGTERM: %v", err)
			}
		})
	}
}
