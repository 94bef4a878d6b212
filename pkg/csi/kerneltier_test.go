package csi

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	mountutils "k8s.io/mount-utils"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/fusebpf"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/fusebpf/kernel"
)

// TestKernelTierRefusedFallsBack presents this node as a FUSE-BPF kernel
// (the probe's answer is replaced; everything else is real), so staging
// takes the kernel-tier path: the policy is loaded and registered in this
// stock kernel for real, which refuses fuse_ops. With enforcement kernel
// that is FailedPrecondition and nothing is mounted; with auto the volume is
// served in the userspace tier and recorded so.
func TestKernelTierRefusedFallsBack(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount FUSE and load BPF")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("kernel has no FUSE: %v", err)
	}
	real, err := kernel.ProbeKernel(kernel.ProbeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if real.HasTier(kernel.TierKernel) {
		t.Skip("this kernel really has FUSE-BPF; the fallback is not reachable")
	}
	fake := *real
	fake.FuseBPF, fake.Tiers, fake.ABIFingerprint = true, []string{kernel.TierKernel, kernel.TierUserspace}, "test"
	orig := probeNode
	probeNode = func() (*kernel.Probe, error) { return &fake, nil }
	t.Cleanup(func() { probeNode = orig })

	base := t.TempDir()
	d, err := New(Options{Endpoint: "unix://" + filepath.Join(base, "csi.sock"), NodeID: "n1", Mode: ModeAll,
		DataDir: base, OperationTimeout: 30 * time.Second, HealthTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	d.recovered.Store(true)
	ctrl, node := &controllerServer{d: d}, &nodeServer{d: d}
	ctx := context.Background()
	capab := &csipb.VolumeCapability{AccessType: &csipb.VolumeCapability_Mount{Mount: &csipb.VolumeCapability_MountVolume{}},
		AccessMode: &csipb.VolumeCapability_AccessMode{Mode: csipb.VolumeCapability_AccessMode_SINGLE_NODE_WRITER}}

	for _, enf := range []string{EnforcementKernel, EnforcementAuto} {
		params := map[string]string{"policy": "read-only", "enforcement": enf}
		cv, err := ctrl.CreateVolume(ctx, &csipb.CreateVolumeRequest{Name: "v-" + enf, Parameters: params,
			VolumeCapabilities: []*csipb.VolumeCapability{capab}})
		if err != nil {
			t.Fatal(err)
		}
		id := cv.GetVolume().GetVolumeId()
		staging := filepath.Join(base, enf, "staging")
		os.MkdirAll(staging, 0o755)
		_, err = node.NodeStageVolume(ctx, &csipb.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging,
			VolumeCapability: capab, VolumeContext: cv.GetVolume().GetVolumeContext()})
		mounted, _ := mountutils.New("").IsLikelyNotMountPoint(staging)
		switch enf {
		case EnforcementKernel:
			if toStatus(err).Code() != codes.FailedPrecondition {
				t.Fatalf("enforcement kernel on a kernel that refuses fuse_ops: %v, want FailedPrecondition", err)
			}
			t.Logf("refusal: %v", err)
			if !mounted {
				t.Fatal("something is mounted after a refused kernel-tier stage")
			}
		case EnforcementAuto:
			if err != nil {
				t.Fatalf("enforcement auto: %v", err)
			}
			rec, err := d.node.Get(id)
			if err != nil || rec.Tier != TierUserspace {
				t.Fatalf("record %+v, %v; want tier userspace after the fallback", rec, err)
			}
			if err := os.WriteFile(filepath.Join(staging, "x"), nil, 0o644); err == nil {
				t.Error("read-only policy not enforced after the fallback")
			}
			if _, err := node.NodeUnstageVolume(ctx, &csipb.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: staging}); err != nil {
				t.Fatal(err)
			}
			if err := fusebpf.Check(staging); err == nil {
				t.Fatal("still mounted after unstage")
			}
		}
	}
}
