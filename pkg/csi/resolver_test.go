package csi

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/fusebpf/kernel"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/apis/v1alpha1"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/kubetest"
)

// TestCreateVolumeConsultsFilterPolicies: with the FilterPolicy resolver,
// CreateVolume resolves the StorageClass's policy to a FilterPolicy and
// refuses a node whose verdict cannot meet the enforcement (this machine's
// own probe, a stock kernel, published as the node).
func TestCreateVolumeConsultsFilterPolicies(t *testing.T) {
	probe, err := kernel.ProbeKernel(kernel.ProbeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if probe.FuseBPF || !probe.DevFuse {
		t.Skip("this machine is not a stock kernel with /dev/fuse")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	node := &v1alpha1.FuseBPFNode{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: kube.NodeStatusFromProbe(probe, "test", time.Now())}
	api := kubetest.NewFakeClient(node,
		&v1alpha1.FilterPolicy{ObjectMeta: metav1.ObjectMeta{Name: "ro"}, Spec: v1alpha1.FilterPolicySpec{Builtin: "read-only"}},
		&v1alpha1.FilterPolicy{ObjectMeta: metav1.ObjectMeta{Name: "hidden"},
			Spec: v1alpha1.FilterPolicySpec{Builtin: "hide", Parameters: map[string]string{"hidePatterns": strings.Repeat("x", 90)}}})
	r := kube.NewResolver(api.Client)
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	d, err := New(Options{Endpoint: "unix://" + filepath.Join(base, "csi.sock"), NodeID: "n1", Mode: ModeController,
		DataDir: base, OperationTimeout: 10 * time.Second, HealthTimeout: 5 * time.Second, Policies: r})
	if err != nil {
		t.Fatal(err)
	}
	ctrl := &controllerServer{d: d}
	capab := &csipb.VolumeCapability{AccessType: &csipb.VolumeCapability_Mount{Mount: &csipb.VolumeCapability_MountVolume{}},
		AccessMode: &csipb.VolumeCapability_AccessMode{Mode: csipb.VolumeCapability_AccessMode_SINGLE_NODE_WRITER}}
	create := func(params map[string]string) error {
		_, err := ctrl.CreateVolume(ctx, &csipb.CreateVolumeRequest{Name: "v-" + params["policy"] + params["enforcement"],
			Parameters: params, VolumeCapabilities: []*csipb.VolumeCapability{capab}})
		return err
	}
	if err := create(map[string]string{"policy": "ro"}); err != nil {
		t.Fatalf("auto on a userspace node: %v", err)
	}
	for _, tc := range []struct {
		params  map[string]string
		code    codes.Code
		mention string
	}{
		{map[string]string{"policy": "ro", "enforcement": "kernel"}, codes.ResourceExhausted, "no node can enforce"},
		{map[string]string{"policy": "read-only"}, codes.InvalidArgument, `"policy"`},
		{map[string]string{"policy": "hidden"}, codes.InvalidArgument, "hidePatterns"},
		{map[string]string{"policy": "ro", "policy.bogus": "1"}, codes.InvalidArgument, `"policy.bogus"`},
	} {
		err := create(tc.params)
		if st := toStatus(err); st.Code() != tc.code || !strings.Contains(st.Message(), tc.mention) {
			t.Errorf("%v: %v, want %s mentioning %q", tc.params, err, tc.code, tc.mention)
		}
	}
}
