package kube_test

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	k8sfake "k8s.io/client-go/kubernetes/fake"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/apis/v1alpha1"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/internal/testabi"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/kubetest"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
)

// TestPublishNodeFake: the publisher owns the object by the Node's UID,
// writes only what changed, and follows a re-created Node.
func TestPublishNodeFake(t *testing.T) {
	ctx := context.Background()
	core := k8sfake.NewSimpleClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "uid-1"}})
	api := kubetest.NewFakeClient()
	st := testabi.Status(t, testabi.Build(t), "6.18.0-fusebpf")

	n, err := kube.PublishNode(ctx, api.Client, core, "n1", st)
	if err != nil {
		t.Fatal(err)
	}
	if n.Spec.NodeName != "n1" || len(n.OwnerReferences) != 1 || n.OwnerReferences[0].UID != "uid-1" || !n.Status.FuseBPF {
		t.Fatalf("published %+v", n)
	}
	before := len(api.Actions())
	if _, err := kube.PublishNode(ctx, api.Client, core, "n1", st); err != nil {
		t.Fatal(err)
	}
	for _, a := range api.Actions()[before:] {
		if a.GetVerb() != "get" {
			t.Errorf("unchanged facts written again: %s %s", a.GetVerb(), a.GetSubresource())
		}
	}

	// The node is re-created: the owner follows its new UID.
	if err := core.CoreV1().Nodes().Delete(ctx, "n1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := core.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: types.UID("uid-2")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if n, err = kube.PublishNode(ctx, api.Client, core, "n1", st); err != nil || len(n.OwnerReferences) != 1 || n.OwnerReferences[0].UID != "uid-2" {
		t.Errorf("after node re-creation: %v, owners %v", err, n.OwnerReferences)
	}
	if _, err := kube.PublishNode(ctx, api.Client, core, "n2", st); !errors.Is(err, kube.ErrNodeNotFound) {
		t.Errorf("missing node: %v", err)
	}
}

// TestResolverFake answers from informers over the fake API.
func TestResolverFake(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kernelNode := &v1alpha1.FuseBPFNode{ObjectMeta: metav1.ObjectMeta{Name: "k"}, Status: testabi.Status(t, testabi.Build(t), "6.18.0-fusebpf")}
	userNode := &v1alpha1.FuseBPFNode{ObjectMeta: metav1.ObjectMeta{Name: "u"}, Status: testabi.Status(t, nil, "")}
	unprobed := &v1alpha1.FuseBPFNode{ObjectMeta: metav1.ObjectMeta{Name: "x"}}
	if userNode.Status.FuseBPF || !userNode.Status.DevFuse {
		t.Skip("this machine is not a stock kernel with /dev/fuse")
	}
	api := kubetest.NewFakeClient(kernelNode, userNode, unprobed,
		&v1alpha1.FilterPolicy{ObjectMeta: metav1.ObjectMeta{Name: "ro"}, Spec: v1alpha1.FilterPolicySpec{Builtin: "read-only"}},
		&v1alpha1.FilterPolicy{ObjectMeta: metav1.ObjectMeta{Name: "bad"}, Spec: v1alpha1.FilterPolicySpec{Program: []byte("nope")}})
	r := kube.NewResolver(api.Client)
	if _, _, _, err := r.Resolve(ctx, "ro"); !errors.Is(err, kube.ErrNotStarted) {
		t.Errorf("before Start: %v", err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	p, defaults, digest, err := r.Resolve(ctx, "ro")
	builtin, _ := policy.Builtin("read-only")
	if err != nil || p != builtin || digest != builtin.Digest || len(defaults) != 0 {
		t.Errorf("resolve ro: %v, %v, %s", err, defaults, digest)
	}
	if _, _, _, err := r.Resolve(ctx, "bad"); !errors.Is(err, kube.ErrPolicyInvalid) || !errors.Is(err, policy.ErrInvalidObject) {
		t.Errorf("resolve bad: %v", err)
	}
	acc, err := r.AccessibleNodes(ctx, "ro", kube.EnforcementKernel)
	if err != nil || len(acc) != 1 || acc[0].Node != "k" || acc[0].Segment()[kube.TopologyKeyABI] != kernelNode.Status.ABIFingerprint {
		t.Errorf("kernel: %+v, %v", acc, err)
	}
	acc, err = r.AccessibleNodes(ctx, "ro", "")
	if err != nil || len(acc) != 2 || acc[0].Tier != v1alpha1.TierKernel || acc[1].Tier != v1alpha1.TierUserspace {
		t.Errorf("auto: %+v, %v (the unprobed node must not count)", acc, err)
	}
}

// TestNodePublisherFollowsProbe: a re-probe with different facts is
// published; equal facts are not written again.
func TestNodePublisherFollowsProbe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	core := k8sfake.NewSimpleClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "uid-1"}})
	api := kubetest.NewFakeClient()
	stock := testabi.Status(t, nil, "")
	upgraded := testabi.Status(t, testabi.Build(t), "6.18.0-fusebpf")
	probes := make(chan v1alpha1.FuseBPFNodeStatus, 8)
	probes <- stock
	probes <- stock // unchanged: no write
	probes <- upgraded
	pub := &kube.NodePublisher{
		Client: api.Client, Core: core, NodeName: "n1", Interval: 10 * time.Millisecond,
		Probe: func(ctx context.Context) (v1alpha1.FuseBPFNodeStatus, error) {
			select {
			case st := <-probes:
				return st, nil
			case <-ctx.Done():
				return v1alpha1.FuseBPFNodeStatus{}, ctx.Err()
			}
		},
	}
	done := make(chan error, 1)
	go func() { done <- pub.Run(ctx) }()
	err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		n, err := api.FuseBPFNodes.Get(ctx, "n1", metav1.GetOptions{})
		return err == nil && n.Status.FuseBPF, nil
	})
	cancel()
	if err != nil {
		t.Fatal("the changed probe was never published")
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run: %v", err)
	}
	writes := 0
	for _, a := range api.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			writes++
		}
	}
	if writes != 2 {
		t.Errorf("%d status writes, want 2 (start-up and the changed probe)", writes)
	}
}
