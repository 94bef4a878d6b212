package kube

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/apis/v1alpha1"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
)

func userspaceNode(name string) *v1alpha1.FuseBPFNode {
	return &v1alpha1.FuseBPFNode{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: v1alpha1.FuseBPFNodeStatus{
			Tiers: []v1alpha1.Tier{v1alpha1.TierUserspace}, ABIFingerprint: "none", DevFuse: true,
			KernelTierReasons: []string{"no STRUCT fuse_ops in BTF"}, LastProbeTime: metav1.Now(),
		},
	}
}

// TestEvaluateInvalid: every way a spec can be wrong gives Valid=False
// with a reason and a message that names the field and the limit.
func TestEvaluateInvalid(t *testing.T) {
	big := make([]byte, policy.MaxObjectSize+1)
	copy(big, "\x7fELF")
	for _, tc := range []struct {
		name    string
		spec    v1alpha1.FilterPolicySpec
		reason  string
		message string
	}{
		{"oversized", v1alpha1.FilterPolicySpec{Program: big}, ReasonProgramTooLarge, "spec.program: invalid policy object: 1048577 bytes, at most 1048576 (1 MiB)"},
		{"corrupt", v1alpha1.FilterPolicySpec{Program: []byte("\x7fELF garbage")}, ReasonInvalidObject, "spec.program: invalid policy object"},
		{"unknown builtin", v1alpha1.FilterPolicySpec{Builtin: "nope"}, ReasonUnknownBuiltin, `spec.builtin: unknown built-in policy "nope" (built-ins: allow-all,`},
		{"bad default", v1alpha1.FilterPolicySpec{Builtin: "uid-gate", Parameters: map[string]string{"allowedUids": "1,2,x"}}, ReasonInvalidParameters, `spec.parameters: invalid policy parameter: parameter "allowedUids"`},
		{"neither", v1alpha1.FilterPolicySpec{}, ReasonInvalidSpec, "neither spec.builtin nor spec.program is set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fp := &v1alpha1.FilterPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Generation: 3}, Spec: tc.spec}
			st := newChecker().evaluate(fp, []*v1alpha1.FuseBPFNode{userspaceNode("n1")}, metav1.Now())
			c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionValid)
			if c == nil || c.Status != metav1.ConditionFalse || c.Reason != tc.reason || !strings.Contains(c.Message, tc.message) {
				t.Fatalf("Valid: %+v; want False %s %q", c, tc.reason, tc.message)
			}
			if c.ObservedGeneration != 3 || st.ObservedGeneration != 3 {
				t.Errorf("observed generation %d/%d, want 3", c.ObservedGeneration, st.ObservedGeneration)
			}
			if !meta.IsStatusConditionFalse(st.Conditions, v1alpha1.ConditionEnforceable) || st.Nodes != nil {
				t.Errorf("Enforceable %+v, nodes %v", st.Conditions, st.Nodes)
			}
		})
	}
}

// TestEvaluateStable: evaluating again changes nothing, so the controller
// does not write; a changed verdict keeps the Valid condition's time.
func TestEvaluateStable(t *testing.T) {
	c := newChecker()
	fp := &v1alpha1.FilterPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Generation: 1}, Spec: v1alpha1.FilterPolicySpec{Builtin: "read-only"}}
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	fp.Status = c.evaluate(fp, nil, t0)
	if !meta.IsStatusConditionTrue(fp.Status.Conditions, v1alpha1.ConditionValid) ||
		meta.FindStatusCondition(fp.Status.Conditions, v1alpha1.ConditionEnforceable).Reason != ReasonNoNodes {
		t.Fatalf("no nodes: %+v", fp.Status.Conditions)
	}
	t1 := metav1.NewTime(t0.Add(time.Hour))
	again := c.evaluate(fp, nil, t1)
	if !equalStatus(again, fp.Status) {
		t.Errorf("re-evaluation changed the status:\n%+v\n%+v", again, fp.Status)
	}
	withNode := c.evaluate(fp, []*v1alpha1.FuseBPFNode{userspaceNode("n1"), userspaceNode("n0")}, t1)
	valid := meta.FindStatusCondition(withNode.Conditions, v1alpha1.ConditionValid)
	en := meta.FindStatusCondition(withNode.Conditions, v1alpha1.ConditionEnforceable)
	if !valid.LastTransitionTime.Equal(&t0) || !en.LastTransitionTime.Equal(&t1) || en.Status != metav1.ConditionTrue {
		t.Errorf("Valid %+v, Enforceable %+v", valid, en)
	}
	if withNode.Summary != "2 userspace" || withNode.Nodes[0].Node != "n0" || en.Message != "enforceable on 2 of 2 nodes, in the kernel on 0" {
		t.Errorf("summary %q, nodes %+v, message %q", withNode.Summary, withNode.Nodes, en.Message)
	}
}

func equalStatus(a, b v1alpha1.FilterPolicyStatus) bool {
	return a.ObservedGeneration == b.ObservedGeneration && a.Digest == b.Digest && a.Summary == b.Summary &&
		len(a.Conditions) == len(b.Conditions) && a.Conditions[0] == b.Conditions[0] && a.Conditions[1] == b.Conditions[1]
}

func TestTierFor(t *testing.T) {
	user := &v1alpha1.FuseBPFNodeStatus{Tiers: []v1alpha1.Tier{v1alpha1.TierUserspace}}
	both := &v1alpha1.FuseBPFNodeStatus{Tiers: []v1alpha1.Tier{v1alpha1.TierKernel, v1alpha1.TierUserspace}}
	none := &v1alpha1.FuseBPFNodeStatus{}
	for _, tc := range []struct {
		v           v1alpha1.Verdict
		node        *v1alpha1.FuseBPFNodeStatus
		enforcement string
		want        v1alpha1.Tier
	}{
		{v1alpha1.VerdictKernel, both, EnforcementAuto, v1alpha1.TierKernel},
		{v1alpha1.VerdictKernel, both, EnforcementKernel, v1alpha1.TierKernel},
		{v1alpha1.VerdictKernel, both, EnforcementUserspace, v1alpha1.TierUserspace},
		{v1alpha1.VerdictIncompatible, both, EnforcementAuto, v1alpha1.TierUserspace},
		{v1alpha1.VerdictIncompatible, both, EnforcementKernel, ""},
		{v1alpha1.VerdictUserspace, user, EnforcementKernel, ""},
		{v1alpha1.VerdictUserspace, user, EnforcementAuto, v1alpha1.TierUserspace},
		{v1alpha1.VerdictIncompatible, none, EnforcementAuto, ""},
	} {
		if got := tierFor(tc.v, tc.node, tc.enforcement); got != tc.want {
			t.Errorf("%s on %v with %s: %q, want %q", tc.v, tc.node.Tiers, tc.enforcement, got, tc.want)
		}
	}
}
