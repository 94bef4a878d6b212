package compat_test

import (
	"strings"
	"testing"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/apis/v1alpha1"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/compat"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/internal/testabi"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
)

func builtin(t *testing.T, name string) *policy.Policy {
	t.Helper()
	p, err := policy.Builtin(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func object(t *testing.T, name string) *policy.Policy {
	t.Helper()
	p, err := policy.Load(testabi.ReadTestdata(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCheckSyntheticNodes checks policies against nodes whose BTF is the
// synthetic FUSE-BPF ABI with one thing broken: the verdict follows, and
// the reason names what is at fault.
func TestCheckSyntheticNodes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		policy  func(t *testing.T) *policy.Policy
		edits   []testabi.Edit
		verdict v1alpha1.Verdict
		reason  []string
	}{{
		name:    "intact ABI",
		policy:  func(t *testing.T) *policy.Policy { return builtin(t, "hide") },
		verdict: v1alpha1.VerdictKernel,
		reason:  []string{"fits the node's FUSE-BPF ABI: 10 callbacks, 3 kfuncs"},
	}, {
		name:    "callback member missing",
		policy:  func(t *testing.T) *policy.Policy { return builtin(t, "hide") },
		edits:   []testabi.Edit{testabi.DropMember("readdir_postfilter")},
		verdict: v1alpha1.VerdictIncompatible,
		reason:  []string{"callback readdir_postfilter (program hide_readdir_post): the node's struct fuse_ops has no member readdir_postfilter"},
	}, {
		name:    "prototype arity changed",
		policy:  func(t *testing.T) *policy.Policy { return builtin(t, "hide") },
		edits:   []testabi.Edit{testabi.DropLastParam("lookup_prefilter")},
		verdict: v1alpha1.VerdictIncompatible,
		reason:  []string{"callback lookup_prefilter: the node's prototype takes 1 parameters, the policy's 2"},
	}, {
		name:    "kfunc missing",
		policy:  func(t *testing.T) *policy.Policy { return builtin(t, "hide") },
		edits:   []testabi.Edit{testabi.RenameFunc("bpf_fuse_get_rw_dynptr", "bpf_fuse_get_rw_dynptr_gone")},
		verdict: v1alpha1.VerdictIncompatible,
		reason:  []string{"kfunc bpf_fuse_get_rw_dynptr: not in the node's BTF"},
	}, {
		name:   "kfuncs under the other name set",
		policy: func(t *testing.T) *policy.Policy { return builtin(t, "hide") },
		edits: []testabi.Edit{
			testabi.RenameFunc("bpf_fuse_get_ro_dynptr", "bpf_dynptr_from_fuse_buffer_ro"),
			testabi.RenameFunc("bpf_fuse_get_rw_dynptr", "bpf_dynptr_from_fuse_buffer_rw"),
		},
		verdict: v1alpha1.VerdictIncompatible,
		reason:  []string{"kfunc bpf_fuse_get_ro_dynptr: not in the node's BTF (the node names it bpf_dynptr_from_fuse_buffer_ro"},
	}, {
		name:    "field a program reads is gone",
		policy:  func(t *testing.T) *policy.Policy { return object(t, "policy_user_postfilter.o") },
		edits:   []testabi.Edit{testabi.DropField("fuse_attr", "mode")},
		verdict: v1alpha1.VerdictIncompatible,
		reason:  []string{"CO-RE relocation of struct fuse_attr_out.attr.mode", "finds no match in the node's BTF"},
	}, {
		name:    "unused member missing: fits, but no kernel tier",
		policy:  func(t *testing.T) *policy.Policy { return builtin(t, "hide") },
		edits:   []testabi.Edit{testabi.DropMember("access_prefilter")},
		verdict: v1alpha1.VerdictUserspace,
		reason:  []string{"fits the node's struct fuse_ops, but the node offers no kernel tier (fuse_ops has no member access_prefilter"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.policy(t)
			st := testabi.Status(t, testabi.Build(t, tc.edits...), "6.18.0-fusebpf")
			r := compat.Check(p, &st)
			if r.Verdict != tc.verdict {
				t.Fatalf("verdict %s, want %s (reason: %s)", r.Verdict, tc.verdict, r.Reason)
			}
			for _, want := range tc.reason {
				if !strings.Contains(r.Reason, want) {
					t.Errorf("reason %q lacks %q", r.Reason, want)
				}
			}
			if !r.ABI || len(r.Callbacks) != len(p.Callbacks) || len(r.Kfuncs) != len(p.Kfuncs) {
				t.Errorf("findings: ABI %t, %d callbacks, %d kfuncs; policy has %d and %d",
					r.ABI, len(r.Callbacks), len(r.Kfuncs), len(p.Callbacks), len(p.Kfuncs))
			}
			if (tc.verdict == v1alpha1.VerdictIncompatible) == r.Fits() {
				t.Errorf("Fits() = %t with verdict %s", r.Fits(), r.Verdict)
			}
		})
	}
}

// TestCheckCORE: a policy with CO-RE relocations resolves them all
// against the intact ABI.
func TestCheckCORE(t *testing.T) {
	p := object(t, "policy_user_postfilter.o")
	st := testabi.Status(t, testabi.Build(t), "6.18.0-fusebpf")
	r := compat.Check(p, &st)
	if r.Verdict != v1alpha1.VerdictKernel || r.Relocated < 3 || len(r.Relocations) != 0 {
		t.Fatalf("verdict %s, %d relocated, failures %v", r.Verdict, r.Relocated, r.Failures())
	}
}

// TestCheckStockKernel: this machine's kernel has no FUSE-BPF, so a valid
// policy runs in the userspace tier; the reason says why.
func TestCheckStockKernel(t *testing.T) {
	st := testabi.Status(t, nil, "")
	if st.FuseBPF || len(st.BTFSubset) != 0 {
		t.Skip("this kernel has FUSE-BPF; the stock-kernel verdict cannot be observed here")
	}
	if !st.HasTier(v1alpha1.TierUserspace) {
		t.Skip("no /dev/fuse on this machine: no userspace tier")
	}
	r := compat.Check(builtin(t, "hide"), &st)
	if r.Verdict != v1alpha1.VerdictUserspace {
		t.Fatalf("verdict %s (%s), want userspace", r.Verdict, r.Reason)
	}
	if !strings.Contains(r.Reason, "no FUSE-BPF ABI on the node") || !strings.Contains(r.Reason, "no STRUCT fuse_ops") {
		t.Errorf("reason %q does not say the node lacks fuse_ops", r.Reason)
	}
	if r.ABI || r.Fits() {
		t.Error("a node without fuse_ops reported as checked")
	}
}

func TestCheckNodeWithoutTiers(t *testing.T) {
	p := builtin(t, "read-only")
	r := compat.Check(p, &v1alpha1.FuseBPFNodeStatus{KernelTierReasons: []string{"no STRUCT fuse_ops in BTF"}})
	if r.Verdict != v1alpha1.VerdictIncompatible || !strings.Contains(r.Reason, "no /dev/fuse") {
		t.Errorf("verdict %s (%s), want incompatible naming /dev/fuse", r.Verdict, r.Reason)
	}
	r = compat.Check(p, &v1alpha1.FuseBPFNodeStatus{Tiers: []v1alpha1.Tier{v1alpha1.TierUserspace}, BTFSubset: []byte("garbage")})
	if r.Verdict != v1alpha1.VerdictIncompatible || !strings.Contains(r.Reason, "BTF subset does not load") {
		t.Errorf("corrupt subset: verdict %s (%s)", r.Verdict, r.Reason)
	}
}
