package kube_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/fusebpf/kernel"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/apis/v1alpha1"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/internal/testabi"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/kubetest"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
)

// env is a real API server with the CRDs, three nodes with publishers,
// and the controller running under leader election.
type env struct {
	t      *testing.T
	ctx    context.Context
	cfg    *rest.Config
	client *kube.Client
	core   kubernetes.Interface
	// stop ends a node's publisher.
	stop map[string]context.CancelFunc
}

// Nodes of the test cluster.
const (
	nodeStock   = "stock"   // this machine's kernel: no FUSE-BPF
	nodeFuseBPF = "fusebpf" // the synthetic FUSE-BPF ABI, intact
	nodeBroken  = "broken"  // the synthetic ABI without readdir_postfilter
)

func startEnv(t *testing.T) *env {
	s := kubetest.Start(t)
	s.InstallCRDs(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	client, err := kube.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	core, err := kubernetes.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, cfg: s.Config, client: client, core: core, stop: map[string]context.CancelFunc{}}

	facts := map[string]v1alpha1.FuseBPFNodeStatus{
		nodeStock:   testabi.Status(t, nil, ""),
		nodeFuseBPF: testabi.Status(t, testabi.Build(t), "6.18.0-fusebpf"),
		nodeBroken:  testabi.Status(t, testabi.Build(t, testabi.DropMember("readdir_postfilter")), "6.18.0-fusebpf-old"),
	}
	if facts[nodeStock].FuseBPF {
		t.Skip("this kernel has FUSE-BPF; the stock node cannot be played by it")
	}
	if !facts[nodeStock].DevFuse {
		t.Skip("no /dev/fuse: this machine offers no userspace tier")
	}
	for name, st := range facts {
		if _, err := core.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pub := &kube.NodePublisher{
			Client: client, Core: core, NodeName: name,
			Probe: func(context.Context) (v1alpha1.FuseBPFNodeStatus, error) { return st, nil },
		}
		if name == nodeStock {
			// The real probe of this machine, as the node plugin runs it.
			pub.Probe = kube.KernelProbe("test")
		}
		pctx, stop := context.WithCancel(ctx)
		e.stop[name] = stop
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := pub.Run(pctx); err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("publisher %s: %v", name, err)
			}
		}()
	}

	wg.Add(1)
	go func() {
		defer wg.Done()
		err := kube.RunController(ctx, s.Config, kube.Options{
			LeaderElection: true, LeaderElectionNamespace: "kube-system",
		})
		if err != nil && ctx.Err() == nil {
			t.Errorf("controller: %v", err)
		}
	}()
	return e
}

// waitPolicy waits until the controller has written the status of the
// policy's current generation and cond accepts it. The bound only turns
// a hang into a failure.
func (e *env) waitPolicy(name string, cond func(*v1alpha1.FilterPolicy) bool) *v1alpha1.FilterPolicy {
	e.t.Helper()
	var last *v1alpha1.FilterPolicy
	err := wait.PollUntilContextTimeout(e.ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		fp, err := e.client.FilterPolicies.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = fp
		return fp.Status.ObservedGeneration == fp.Generation && cond(fp), nil
	})
	if err != nil {
		e.t.Fatalf("policy %s: status never matched: %+v", name, last.Status)
	}
	return last
}

func condition(fp *v1alpha1.FilterPolicy, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(fp.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{Status: metav1.ConditionUnknown}
}

func verdicts(fp *v1alpha1.FilterPolicy) map[string]v1alpha1.NodeVerdict {
	out := map[string]v1alpha1.NodeVerdict{}
	for _, n := range fp.Status.Nodes {
		out[n.Node] = n
	}
	return out
}

func (e *env) create(fp *v1alpha1.FilterPolicy) {
	e.t.Helper()
	if _, err := e.client.FilterPolicies.Create(e.ctx, fp, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("create %s: %v", fp.Name, err)
	}
}

func named(name string, spec v1alpha1.FilterPolicySpec) *v1alpha1.FilterPolicy {
	return &v1alpha1.FilterPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
}

// TestAgainstAPIServer runs the node publishers, the controller and the
// resolver against a real kube-apiserver and etcd.
func TestAgainstAPIServer(t *testing.T) {
	e := startEnv(t)
	ctx := e.ctx

	t.Run("publishers", func(t *testing.T) {
		for _, name := range []string{nodeStock, nodeFuseBPF, nodeBroken} {
			var n *v1alpha1.FuseBPFNode
			err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
				var err error
				n, err = e.client.FuseBPFNodes.Get(ctx, name, metav1.GetOptions{})
				return err == nil && n.Status.ABIFingerprint != "", nil
			})
			if err != nil {
				t.Fatalf("FuseBPFNode %s never published", name)
			}
			node, err := e.core.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(n.OwnerReferences) != 1 || n.OwnerReferences[0].UID != node.UID || n.Spec.NodeName != name {
				t.Errorf("%s: owner %v, spec %+v; want the Node %s", name, n.OwnerReferences, n.Spec, node.UID)
			}
			wantKernel := name == nodeFuseBPF
			if n.Status.HasTier(v1alpha1.TierKernel) != wantKernel || n.Status.FuseBPF != wantKernel {
				t.Errorf("%s: tiers %v, fuseBPF %t", name, n.Status.Tiers, n.Status.FuseBPF)
			}
			if (len(n.Status.BTFSubset) > 0) != (name != nodeStock) {
				t.Errorf("%s: BTF subset of %d bytes", name, len(n.Status.BTFSubset))
			}
		}
		// A deleted FuseBPFNode comes back: the publisher watches it.
		if err := e.client.FuseBPFNodes.Delete(ctx, nodeFuseBPF, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			n, err := e.client.FuseBPFNodes.Get(ctx, nodeFuseBPF, metav1.GetOptions{})
			return err == nil && n.Status.FuseBPF, nil
		})
		if err != nil {
			t.Fatal("deleted FuseBPFNode was not published again")
		}
	})

	t.Run("verdicts per node", func(t *testing.T) {
		e.create(named("hide", v1alpha1.FilterPolicySpec{Builtin: "hide", Parameters: map[string]string{"hidePatterns": "secret*,*.key"}}))
		fp := e.waitPolicy("hide", func(fp *v1alpha1.FilterPolicy) bool {
			return len(fp.Status.Nodes) == 3 && condition(fp, v1alpha1.ConditionEnforceable).Status == metav1.ConditionTrue
		})
		if c := condition(fp, v1alpha1.ConditionValid); c.Status != metav1.ConditionTrue {
			t.Errorf("Valid: %+v", c)
		}
		v := verdicts(fp)
		if got := v[nodeStock]; got.Verdict != v1alpha1.VerdictUserspace || !strings.Contains(got.Reason, "no FUSE-BPF ABI") || got.ABIFingerprint != kernel.FingerprintNone {
			t.Errorf("stock node: %+v", got)
		}
		if got := v[nodeFuseBPF]; got.Verdict != v1alpha1.VerdictKernel {
			t.Errorf("FUSE-BPF node: %+v", got)
		}
		if got := v[nodeBroken]; got.Verdict != v1alpha1.VerdictIncompatible || !strings.Contains(got.Reason, "no member readdir_postfilter") {
			t.Errorf("node without readdir_postfilter: %+v", got)
		}
		builtin, _ := policy.Builtin("hide")
		if fp.Status.Digest != builtin.Digest || fp.Status.Summary != "1 kernel, 1 userspace, 1 incompatible" {
			t.Errorf("digest %s (want %s), summary %q", fp.Status.Digest, builtin.Digest, fp.Status.Summary)
		}
		if len(fp.Status.Parameters) != 1 || fp.Status.Parameters[0].Name != "hidePatterns" || fp.Status.Parameters[0].Type != "stringList" {
			t.Errorf("parameters %+v", fp.Status.Parameters)
		}
		if len(fp.Status.Callbacks) != len(builtin.Callbacks) {
			t.Errorf("callbacks %v", fp.Status.Callbacks)
		}
	})

	t.Run("printer columns", func(t *testing.T) {
		body, err := e.core.CoreV1().RESTClient().Get().AbsPath("/apis/fusebpf.csi.io/v1alpha1/filterpolicies/hide").
			SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`"name":"Valid"`, `"name":"Enforceable"`, `"hide","True","True","1 kernel, 1 userspace, 1 incompatible"`} {
			if !bytes.Contains(body, []byte(want)) {
				t.Errorf("table lacks %s: %s", want, body)
			}
		}
		n, err := e.client.FuseBPFNodes.Get(ctx, nodeFuseBPF, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		body, err = e.core.CoreV1().RESTClient().Get().AbsPath("/apis/fusebpf.csi.io/v1alpha1/fusebpfnodes/"+nodeFuseBPF).
			SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf(`"cells":["fusebpf","[\"kernel\",\"userspace\"]","6.18.0-fusebpf","%s",false,"test",`, n.Status.ABIFingerprint)
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("FuseBPFNode table lacks %s: %s", want, body)
		}
	})

	t.Run("invalid policies", func(t *testing.T) {
		for _, tc := range []struct {
			name, reason, message string
			spec                  v1alpha1.FilterPolicySpec
		}{
			{"corrupt", kube.ReasonInvalidObject, "spec.program: invalid policy object: not an ELF file",
				v1alpha1.FilterPolicySpec{Program: []byte("#!/bin/sh\necho not a policy\n")}},
			{"truncated", kube.ReasonInvalidObject, "spec.program: invalid policy object",
				v1alpha1.FilterPolicySpec{Program: testabi.ReadTestdata(t, "policy_example.o")[:512]}},
			{"no-license", kube.ReasonInvalidObject, "is not GPL-compatible",
				v1alpha1.FilterPolicySpec{Program: testabi.ReadTestdata(t, "bad_license.o")}},
			{"both", kube.ReasonInvalidSpec, "spec.builtin and spec.program are both set; set exactly one",
				v1alpha1.FilterPolicySpec{Builtin: "hide", Program: testabi.ReadTestdata(t, "policy_example.o")}},
			{"neither", kube.ReasonInvalidSpec, "neither spec.builtin nor spec.program is set",
				v1alpha1.FilterPolicySpec{Description: "forgot the policy"}},
			{"oversized", kube.ReasonProgramTooLarge, "spec.program: invalid policy object: 1048577 bytes, at most 1048576 (1 MiB)",
				v1alpha1.FilterPolicySpec{Program: append(testabi.ReadTestdata(t, "policy_example.o"), make([]byte, policy.MaxObjectSize)...)[:policy.MaxObjectSize+1]}},
			{"unknown-builtin", kube.ReasonUnknownBuiltin, `spec.builtin: unknown built-in policy "no-such-policy"`,
				v1alpha1.FilterPolicySpec{Builtin: "no-such-policy"}},
			{"unknown-parameter", kube.ReasonInvalidParameters, `spec.parameters: invalid policy parameter: policy has no parameter "hidePattern" (it has: hidePatterns)`,
				v1alpha1.FilterPolicySpec{Builtin: "hide", Parameters: map[string]string{"hidePattern": "x"}}},
			{"ill-typed-parameter", kube.ReasonInvalidParameters, `parameter "allowRoot"`,
				v1alpha1.FilterPolicySpec{Builtin: "uid-gate", Parameters: map[string]string{"allowRoot": "sometimes"}}},
		} {
			e.create(named(tc.name, tc.spec))
			fp := e.waitPolicy(tc.name, func(fp *v1alpha1.FilterPolicy) bool {
				return condition(fp, v1alpha1.ConditionValid).Status == metav1.ConditionFalse
			})
			c := condition(fp, v1alpha1.ConditionValid)
			if c.Reason != tc.reason || !strings.Contains(c.Message, tc.message) {
				t.Errorf("%s: Valid=False %s %q; want %s containing %q", tc.name, c.Reason, c.Message, tc.reason, tc.message)
			}
			if en := condition(fp, v1alpha1.ConditionEnforceable); en.Status != metav1.ConditionFalse || len(fp.Status.Nodes) != 0 {
				t.Errorf("%s: Enforceable %+v with %d node verdicts", tc.name, en, len(fp.Status.Nodes))
			}
		}
	})

	t.Run("admission", func(t *testing.T) {
		for _, tc := range []struct {
			name, message string
			spec          v1alpha1.FilterPolicySpec
		}{
			// Base64 has a granularity of 3 bytes: the schema refuses from
			// MaxObjectSize+3 on, the controller the 2 bytes before.
			{"far-oversized", "spec.program: Too long: may not be more than 1398104", v1alpha1.FilterPolicySpec{Program: make([]byte, policy.MaxObjectSize+3)}},
			{"bad-builtin-name", "spec.builtin: Invalid value", v1alpha1.FilterPolicySpec{Builtin: "Read_Only"}},
		} {
			_, err := e.client.FilterPolicies.Create(ctx, named(tc.name, tc.spec), metav1.CreateOptions{})
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.message) {
				t.Errorf("%s: %v; want Invalid with %q", tc.name, err, tc.message)
			}
		}
		_, err := e.client.FuseBPFNodes.Create(ctx, &v1alpha1.FuseBPFNode{
			ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: v1alpha1.FuseBPFNodeSpec{NodeName: "b"},
		}, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "metadata.name must equal spec.nodeName") {
			t.Errorf("mismatched FuseBPFNode: %v", err)
		}
	})

	t.Run("custom program", func(t *testing.T) {
		elf := testabi.ReadTestdata(t, "policy_user_postfilter.o")
		e.create(named("custom", v1alpha1.FilterPolicySpec{Program: elf}))
		fp := e.waitPolicy("custom", func(fp *v1alpha1.FilterPolicy) bool { return len(fp.Status.Nodes) == 3 })
		p, err := policy.Load(elf)
		if err != nil {
			t.Fatal(err)
		}
		v := verdicts(fp)
		// The custom policy does not use readdir_postfilter: it fits the
		// broken node's fuse_ops, but that node offers no kernel tier.
		if fp.Status.Digest != p.Digest || v[nodeFuseBPF].Verdict != v1alpha1.VerdictKernel || v[nodeBroken].Verdict != v1alpha1.VerdictUserspace {
			t.Errorf("digest %s, verdicts %+v", fp.Status.Digest, v)
		}
	})

	t.Run("re-evaluated on change", func(t *testing.T) {
		// Spec: invalid defaults, then valid again.
		fp, err := e.client.FilterPolicies.Get(ctx, "hide", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fp.Spec.Parameters = map[string]string{"hidePatterns": strings.Repeat("x", 4096)}
		if _, err := e.client.FilterPolicies.Update(ctx, fp, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		got := e.waitPolicy("hide", func(fp *v1alpha1.FilterPolicy) bool {
			return condition(fp, v1alpha1.ConditionValid).Status == metav1.ConditionFalse
		})
		if c := condition(got, v1alpha1.ConditionValid); !strings.Contains(c.Message, `parameter "hidePatterns"`) {
			t.Errorf("Valid: %+v", c)
		}
		got.Spec.Parameters = map[string]string{"hidePatterns": "secret*"}
		if _, err := e.client.FilterPolicies.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitPolicy("hide", func(fp *v1alpha1.FilterPolicy) bool {
			return condition(fp, v1alpha1.ConditionValid).Status == metav1.ConditionTrue && len(fp.Status.Nodes) == 3
		})

		// Node: a fourth node appears with the intact ABI.
		if _, err := e.core.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "late"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := kube.PublishNode(ctx, e.client, e.core, "late", testabi.Status(t, testabi.Build(t), "6.18.0-fusebpf")); err != nil {
			t.Fatal(err)
		}
		got = e.waitPolicy("hide", func(fp *v1alpha1.FilterPolicy) bool { return len(fp.Status.Nodes) == 4 })
		if v := verdicts(got)["late"]; v.Verdict != v1alpha1.VerdictKernel {
			// Never another verdict first: a FuseBPFNode counts only once
			// its status is published.
			t.Errorf("late node: %+v", v)
		}
		if err := e.client.FuseBPFNodes.Delete(ctx, "late", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitPolicy("hide", func(fp *v1alpha1.FilterPolicy) bool { return len(fp.Status.Nodes) == 3 })
		if _, err := kube.PublishNode(ctx, e.client, e.core, "missing-node", v1alpha1.FuseBPFNodeStatus{}); !errors.Is(err, kube.ErrNodeNotFound) {
			t.Errorf("publishing for a node that does not exist: %v", err)
		}
	})

	t.Run("resolver", func(t *testing.T) {
		r := kube.NewResolver(e.client)
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		p, defaults, digest, err := r.Resolve(ctx, "hide")
		if err != nil {
			t.Fatal(err)
		}
		if p.Name != "hide" || digest != p.Digest || defaults["hidePatterns"] != "secret*" {
			t.Errorf("resolved %s, digest %s, defaults %v", p.Name, digest, defaults)
		}
		if _, _, _, err := r.Resolve(ctx, "absent"); !errors.Is(err, kube.ErrPolicyNotFound) {
			t.Errorf("absent policy: %v", err)
		}
		if _, _, _, err := r.Resolve(ctx, "unknown-builtin"); !errors.Is(err, kube.ErrPolicyInvalid) || !errors.Is(err, policy.ErrUnknownBuiltin) {
			t.Errorf("unknown built-in: %v", err)
		}
		if _, _, _, err := r.Resolve(ctx, "ill-typed-parameter"); !errors.Is(err, policy.ErrInvalidParameter) {
			t.Errorf("ill-typed parameter: %v", err)
		}
		for _, tc := range []struct {
			enforcement string
			want        string // node:tier, ...
		}{
			{kube.EnforcementKernel, "fusebpf:kernel"},
			{kube.EnforcementAuto, "broken:userspace, fusebpf:kernel, stock:userspace"},
			{kube.EnforcementUserspace, "broken:userspace, fusebpf:userspace, stock:userspace"},
		} {
			acc, err := r.AccessibleNodes(ctx, "hide", tc.enforcement)
			if err != nil {
				t.Fatalf("%s: %v", tc.enforcement, err)
			}
			var got []string
			for _, a := range acc {
				got = append(got, a.Node+":"+string(a.Tier))
			}
			if strings.Join(got, ", ") != tc.want {
				t.Errorf("%s: %v, want %s", tc.enforcement, got, tc.want)
			}
			for _, a := range acc {
				seg := a.Segment()
				if seg[kube.TopologyKeyNode] != a.Node || (a.Tier == v1alpha1.TierKernel) != (seg[kube.TopologyKeyABI] != "") {
					t.Errorf("segment %v of %+v", seg, a)
				}
			}
		}
		// The only kernel node goes away: enforcement kernel has nowhere
		// to go, and the error says what each node lacks.
		e.stop[nodeFuseBPF]()
		if err := e.client.FuseBPFNodes.Delete(ctx, nodeFuseBPF, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		_ = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err = r.AccessibleNodes(ctx, "hide", kube.EnforcementKernel)
			return err != nil, nil // until the cache sees the deletion
		})
		if !errors.Is(err, kube.ErrNoAccessibleNode) || !strings.Contains(err.Error(), "broken: incompatible") {
			t.Errorf("enforcement kernel without a kernel node: %v", err)
		}
		if _, err := r.AccessibleNodes(ctx, "hide", "sometimes"); !errors.Is(err, kube.ErrInvalidEnforcement) {
			t.Errorf("bad enforcement: %v", err)
		}
	})
}
