package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/apis/v1alpha1"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/compat"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
)

// Reasons of the FilterPolicy conditions (metav1.Condition.Reason).
const (
	ReasonValid             = "Valid"
	ReasonInvalidSpec       = "InvalidSpec"
	ReasonUnknownBuiltin    = "UnknownBuiltin"
	ReasonProgramTooLarge   = "ProgramTooLarge"
	ReasonInvalidObject     = "InvalidObject"
	ReasonInvalidParameters = "InvalidParameters"
	ReasonEnforceable       = "Enforceable"
	ReasonPolicyInvalid     = "PolicyInvalid"
	ReasonNoNodes           = "NoNodes"
	ReasonNoEnforceableNode = "NoEnforceableNode"
)

// loadResult is a FilterPolicy spec after the static checks.
type loadResult struct {
	policy *policy.Policy
	// reason and err say why policy is nil or the defaults do not fit.
	reason string
	err    error
}

// maxCache bounds each cache; past it the cache starts afresh.
const maxCache = 4096

// checker loads policies and checks them against nodes, remembering both:
// a policy object is identified by its digest, a node's facts by a hash
// of what the check reads.
type checker struct {
	mu       sync.Mutex
	programs map[string]*policy.Policy // by sha256 of the ELF
	verdicts map[verdictKey]*compat.Report
}

type verdictKey struct{ policy, node string }

func newChecker() *checker {
	return &checker{programs: map[string]*policy.Policy{}, verdicts: map[verdictKey]*compat.Report{}}
}

// load runs the static checks of a spec: the object (built-in, or
// program within the size limit that policy.Load accepts) and the default
// parameters against its schema.
func (c *checker) load(spec *v1alpha1.FilterPolicySpec) loadResult {
	var p *policy.Policy
	switch {
	case spec.Builtin != "" && len(spec.Program) > 0:
		return loadResult{reason: ReasonInvalidSpec, err: errors.New("spec.builtin and spec.program are both set; set exactly one")}
	case spec.Builtin != "":
		var err error
		if p, err = policy.Builtin(spec.Builtin); err != nil {
			return loadResult{reason: ReasonUnknownBuiltin, err: fmt.Errorf("spec.builtin: %w", err)}
		}
	case len(spec.Program) > policy.MaxObjectSize:
		return loadResult{reason: ReasonProgramTooLarge, err: fmt.Errorf("spec.program: %w: %d bytes, at most %d (1 MiB)",
			policy.ErrInvalidObject, len(spec.Program), policy.MaxObjectSize)}
	case len(spec.Program) > 0:
		var err error
		if p, err = c.program(spec.Program); err != nil {
			return loadResult{reason: ReasonInvalidObject, err: fmt.Errorf("spec.program: %w", err)}
		}
	default:
		return loadResult{reason: ReasonInvalidSpec, err: errors.New("neither spec.builtin nor spec.program is set; set exactly one")}
	}
	if err := p.Validate(policy.Values(spec.Parameters)); err != nil {
		return loadResult{policy: p, reason: ReasonInvalidParameters, err: fmt.Errorf("spec.parameters: %w", err)}
	}
	return loadResult{policy: p}
}

func (c *checker) program(elf []byte) (*policy.Policy, error) {
	sum := sha256.Sum256(elf)
	key := hex.EncodeToString(sum[:])
	c.mu.Lock()
	p, ok := c.programs[key]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := policy.Load(elf)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.programs) >= maxCache {
		c.programs = map[string]*policy.Policy{}
	}
	c.programs[key] = p
	c.mu.Unlock()
	return p, nil
}

// check returns the verdict of p on a node, from the cache when the
// policy and the node's facts are unchanged.
func (c *checker) check(p *policy.Policy, node *v1alpha1.FuseBPFNode) *compat.Report {
	key := verdictKey{policy: p.Digest, node: factsKey(&node.Status)}
	c.mu.Lock()
	r, ok := c.verdicts[key]
	c.mu.Unlock()
	if ok {
		return r
	}
	r = compat.Check(p, &node.Status)
	c.mu.Lock()
	if len(c.verdicts) >= maxCache {
		c.verdicts = map[verdictKey]*compat.Report{}
	}
	c.verdicts[key] = r
	c.mu.Unlock()
	return r
}

// factsKey hashes the parts of a node's status that compat.Check reads.
func factsKey(s *v1alpha1.FuseBPFNodeStatus) string {
	h := sha256.New()
	for _, t := range s.Tiers {
		fmt.Fprintf(h, "tier %s\n", t)
	}
	for _, r := range s.KernelTierReasons {
		fmt.Fprintf(h, "reason %q\n", r)
	}
	fmt.Fprintf(h, "btf %d\n", len(s.BTFSubset))
	h.Write(s.BTFSubset)
	return hex.EncodeToString(h.Sum(nil))
}

// evaluate computes the status of fp against nodes. It starts from fp's
// current status so that unchanged conditions keep their transition
// times; the result equals the current status when nothing changed.
func (c *checker) evaluate(fp *v1alpha1.FilterPolicy, nodes []*v1alpha1.FuseBPFNode, now metav1.Time) v1alpha1.FilterPolicyStatus {
	st := *fp.Status.DeepCopy()
	st.ObservedGeneration = fp.Generation
	res := c.load(&fp.Spec)

	st.Digest, st.Callbacks, st.Parameters = "", nil, nil
	if p := res.policy; p != nil {
		st.Digest = p.Digest
		for _, cb := range p.Callbacks {
			st.Callbacks = append(st.Callbacks, cb.Member())
		}
		for _, prm := range p.Params {
			st.Parameters = append(st.Parameters, v1alpha1.PolicyParameter{
				Name: prm.Name, Type: string(prm.Kind), Description: prm.Describe(), Default: prm.Default,
			})
		}
	}

	if res.err != nil {
		setCondition(&st, v1alpha1.ConditionValid, metav1.ConditionFalse, res.reason, res.err.Error(), now)
		setCondition(&st, v1alpha1.ConditionEnforceable, metav1.ConditionFalse, ReasonPolicyInvalid,
			"the policy is not valid; see the Valid condition", now)
		st.Nodes, st.Summary = nil, ""
		return st
	}
	p := res.policy
	setCondition(&st, v1alpha1.ConditionValid, metav1.ConditionTrue, ReasonValid,
		fmt.Sprintf("%s: %d callbacks, %d parameters, defaults fit", describeSource(&fp.Spec, p), len(p.Callbacks), len(p.Params)), now)

	sorted := append([]*v1alpha1.FuseBPFNode(nil), nodes...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	st.Nodes = st.Nodes[:0]
	counts := map[v1alpha1.Verdict]int{}
	enforceable, kernel := 0, 0
	for _, n := range sorted {
		r := c.check(p, n)
		st.Nodes = append(st.Nodes, v1alpha1.NodeVerdict{
			Node: n.Name, ABIFingerprint: n.Status.ABIFingerprint, Verdict: r.Verdict, Reason: r.Reason,
		})
		counts[r.Verdict]++
		if tierFor(r.Verdict, &n.Status, EnforcementAuto) != "" {
			enforceable++
		}
		if r.Verdict == v1alpha1.VerdictKernel {
			kernel++
		}
	}
	if len(st.Nodes) == 0 {
		st.Nodes = nil
	}
	st.Summary = summary(counts)

	switch {
	case len(sorted) == 0:
		setCondition(&st, v1alpha1.ConditionEnforceable, metav1.ConditionUnknown, ReasonNoNodes,
			"no FuseBPFNode yet: no node plugin has published its kernel's facts", now)
	case enforceable == 0:
		setCondition(&st, v1alpha1.ConditionEnforceable, metav1.ConditionFalse, ReasonNoEnforceableNode,
			fmt.Sprintf("none of %d nodes can enforce the policy; see status.nodes", len(sorted)), now)
	default:
		setCondition(&st, v1alpha1.ConditionEnforceable, metav1.ConditionTrue, ReasonEnforceable,
			fmt.Sprintf("enforceable on %d of %d nodes, in the kernel on %d", enforceable, len(sorted), kernel), now)
	}
	return st
}

func describeSource(spec *v1alpha1.FilterPolicySpec, p *policy.Policy) string {
	if spec.Builtin != "" {
		return "built-in " + spec.Builtin
	}
	return fmt.Sprintf("object %s (fuse_ops %s)", p.Digest[:12], p.Name)
}

func summary(counts map[v1alpha1.Verdict]int) string {
	var parts []string
	for _, v := range []v1alpha1.Verdict{v1alpha1.VerdictKernel, v1alpha1.VerdictUserspace, v1alpha1.VerdictIncompatible} {
		if counts[v] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[v], v))
		}
	}
	if len(parts) == 0 {
		return "no nodes"
	}
	return strings.Join(parts, ", ")
}

func setCondition(st *v1alpha1.FilterPolicyStatus, typ string, status metav1.ConditionStatus, reason, msg string, now metav1.Time) {
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: truncate(msg, 32<<10),
		ObservedGeneration: st.ObservedGeneration, LastTransitionTime: now,
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-len(" …")] + " …"
}

// Enforcement values of a StorageClass (ARCHITECTURE.md §1).
const (
	EnforcementAuto      = "auto"
	EnforcementKernel    = "kernel"
	EnforcementUserspace = "userspace"
)

// tierFor returns the tier that enforces a policy with the given verdict
// on a node under an enforcement mode, "" if the node cannot.
func tierFor(v v1alpha1.Verdict, node *v1alpha1.FuseBPFNodeStatus, enforcement string) v1alpha1.Tier {
	user := node.HasTier(v1alpha1.TierUserspace)
	switch enforcement {
	case EnforcementKernel:
		if v == v1alpha1.VerdictKernel {
			return v1alpha1.TierKernel
		}
	case EnforcementUserspace:
		if user {
			return v1alpha1.TierUserspace
		}
	default:
		if v == v1alpha1.VerdictKernel {
			return v1alpha1.TierKernel
		}
		if user {
			return v1alpha1.TierUserspace
		}
	}
	return ""
}
