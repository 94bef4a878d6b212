package sanity

import (
	"time"

	"errors"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/csi"
	dto "github.com/prometheus/client_model/go"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

// TestPolicyVolumes stages volumes under built-in policies through the real
// gRPC server and checks, through the published target, that the policy is
// what the pod sees.
func TestPolicyVolumes(t *testing.T) {
	requireFUSE(t)
	base := testDir(t)
	dr := startDriver(t, options(base))

	ro := dr.stagePublish(t, base, "ro", map[string]string{"policy": "read-only"}, rwCap, false)
	defer dr.teardown(t, ro)
	if err := os.WriteFile(filepath.Join(ro.target, "x"), nil, 0o644); !isErrno(err, syscall.EROFS) {
		t.Errorf("write to a read-only policy volume: %v, want EROFS", err)
	}

	hide := dr.stagePublish(t, base, "hide", map[string]string{"policy": "hide", "policy.hidePatterns": "*.key,.git"}, rwCap, false)
	defer dr.teardown(t, hide)
	if err := os.WriteFile(filepath.Join(hide.target, "visible"), []byte("v"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hide.target, "id.key"), nil, 0o600); !isErrno(err, syscall.EACCES) {
		t.Errorf("create of a hidden name: %v, want EACCES", err)
	}
	ents, _ := os.ReadDir(hide.target)
	if len(ents) != 1 || ents[0].Name() != "visible" {
		t.Errorf("hide volume lists %v", ents)
	}

	audit := dr.stagePublish(t, base, "audit", map[string]string{"policy": "audit"}, rwCap, false)
	defer dr.teardown(t, audit)
	if err := os.Mkdir(filepath.Join(audit.target, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The node plugin counts the audit volume's events per op and verdict.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mfs, err := csi.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		if auditCount(mfs, audit.id, "mkdir", "allowed") >= 1 && auditCount(mfs, audit.id, "lookup", "ENOENT") >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no audit counters for the mkdir (and its negative lookup) on the audit volume")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func auditCount(mfs []*dto.MetricFamily, volume, op, verdict string) float64 {
	for _, mf := range mfs {
		if mf.GetName() != "fusebpf_audit_operations_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["volume"] == volume && l["op"] == op && l["verdict"] == verdict {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestPolicyBadInput: every policy problem is refused before anything is
// mounted, naming the StorageClass key.
func TestPolicyBadInput(t *testing.T) {
	requireFUSE(t)
	base := testDir(t)
	dr := startDriver(t, options(base))
	for _, tc := range []struct {
		name    string
		params  map[string]string
		mention string
	}{
		{"unknown policy", map[string]string{"policy": "nope"}, `"policy"`},
		{"unknown parameter", map[string]string{"policy": "hide", "policy.patterns": "x"}, `"policy.patterns"`},
		{"too many patterns", map[string]string{"policy": "hide", "policy.hidePatterns": strings.Repeat("a,", 1030)}, `"policy.hidePatterns"`},
		{"pattern too long", map[string]string{"policy": "hide", "policy.hidePatterns": strings.Repeat("x", 100)}, "at most 63"},
		{"ill-typed", map[string]string{"policy": "uid-gate", "policy.allowRoot": "sometimes"}, `"policy.allowRoot"`},
		{"negative uid", map[string]string{"policy": "uid-gate", "policy.allowedUids": "-1"}, `"policy.allowedUids"`},
	} {
		_, err := dr.ctrl.CreateVolume(bg, &csipb.CreateVolumeRequest{Name: "v-" + randomHex(4), Parameters: tc.params,
			VolumeCapabilities: []*csipb.VolumeCapability{rwCap}})
		t.Run(tc.name, func(t *testing.T) { wantCode(t, err, codes.InvalidArgument, tc.mention) })
	}

	// NodeStage checks the volume context again: a bad one mounts nothing.
	staging := filepath.Join(base, "bad", "staging")
	os.MkdirAll(staging, 0o755)
	id := dr.create(t, "good", map[string]string{"policy": "hide"})
	_, err := dr.node.NodeStageVolume(bg, &csipb.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging,
		VolumeCapability: rwCap, VolumeContext: map[string]string{"policy": "hide", "policy.hidePatterns": strings.Repeat("y", 80)}})
	wantCode(t, err, codes.InvalidArgument, "policy.hidePatterns")
	if m := mountAt(t, staging); m != nil {
		t.Fatalf("something is mounted at the staging path after a refused stage: %s", m.FsType)
	}

	// enforcement: kernel on a stock kernel: FailedPrecondition, nothing
	// mounted.
	id = dr.create(t, "kern", map[string]string{"policy": "read-only", "enforcement": "kernel"})
	_, err = dr.node.NodeStageVolume(bg, &csipb.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging,
		VolumeCapability: rwCap, VolumeContext: map[string]string{"policy": "read-only", "enforcement": "kernel"}})
	wantCode(t, err, codes.FailedPrecondition, "FUSE-BPF")
	if m := mountAt(t, staging); m != nil {
		t.Fatalf("mounted at the staging path despite enforcement kernel failing: %s", m.FsType)
	}
}

func isErrno(err error, want syscall.Errno) bool {
	var e syscall.Errno
	return errors.As(err, &e) && e == want
}
