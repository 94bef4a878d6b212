package csi

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/klog/v2"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/bpfvm"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/fusebpf/kernel"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/state"
)

// PolicySource resolves the policy name of a StorageClass: in a cluster a
// FilterPolicy (pkg/kube's Resolver), standalone a built-in. It returns the
// policy, its default parameters and the digest of its object.
type PolicySource interface {
	Resolve(ctx context.Context, name string) (*policy.Policy, policy.Values, string, error)
}

// Builtins resolves policy names to the built-in policies.
type Builtins struct{}

// Resolve returns the built-in policy name, which has no defaults beyond
// its object's.
func (Builtins) Resolve(_ context.Context, name string) (*policy.Policy, policy.Values, string, error) {
	p, err := policy.Builtin(name)
	if err != nil {
		return nil, nil, "", err
	}
	return p, nil, p.Digest, nil
}

// resolvedPolicy is a volume's policy with its effective parameters.
type resolvedPolicy struct {
	policy *policy.Policy
	values policy.Values // defaults overlaid with the volume's parameters
	digest string
}

// checkPolicy resolves the spec's policy and validates its parameters.
// Every problem is InvalidArgument naming the StorageClass key: "policy"
// for a missing or invalid policy, "policy.<name>" for a parameter.
func (d *Driver) checkPolicy(ctx context.Context, s volumeSpec) (*resolvedPolicy, error) {
	p, defaults, digest, err := d.policies().Resolve(ctx, s.Policy)
	if err != nil {
		return nil, invalidParam(ParamPolicy, "%v", err)
	}
	for _, k := range slices.Sorted(maps.Keys(s.PolicyParams)) {
		if err := p.Validate(policy.Values{k: s.PolicyParams[k]}); err != nil {
			return nil, invalidParam(ParamPolicyPrefix+k, "%v", err)
		}
	}
	values := policy.Values{}
	maps.Copy(values, defaults)
	maps.Copy(values, s.PolicyParams)
	if err := p.Validate(values); err != nil {
		// A default of the FilterPolicy itself is wrong.
		return nil, invalidParam(ParamPolicy, "policy %s: %v", s.Policy, err)
	}
	return &resolvedPolicy{policy: p, values: values, digest: digest}, nil
}

func (d *Driver) policies() PolicySource {
	if d.opts.Policies != nil {
		return d.opts.Policies
	}
	return Builtins{}
}

// Tiers.
const (
	// TierKernel is the FUSE-BPF kernel tier.
	TierKernel = "kernel"
)

var (
	probeOnce   sync.Once
	probeResult *kernel.Probe
	probeErr    error
)

// probeNode probes this node's kernel once per process (a variable so tests
// can present another kernel).
var probeNode = func() (*kernel.Probe, error) {
	probeOnce.Do(func() { probeResult, probeErr = kernel.ProbeKernel(kernel.ProbeOptions{}) })
	return probeResult, probeErr
}

// tierFor picks the tier for a volume on this node: the kernel tier when
// the enforcement allows it and the kernel has the FUSE-BPF ABI; else the
// userspace tier, unless the enforcement demands the kernel, which fails
// closed with ErrTierUnavailable and the probe's reasons. (With auto, a
// kernel that then refuses the policy also falls back; see serve.)
func tierFor(enforcement string) (tier, reason string, err error) {
	if enforcement == EnforcementUserspace {
		return TierUserspace, "enforcement userspace", nil
	}
	pr, perr := probeNode()
	if perr == nil && pr.HasTier(kernel.TierKernel) {
		return TierKernel, "kernel has the FUSE-BPF ABI " + pr.ABIFingerprint, nil
	}
	why := "kernel has no FUSE-BPF ABI"
	switch {
	case perr != nil:
		why = fmt.Sprintf("kernel probe failed: %v", perr)
	case len(pr.KernelTierReasons) > 0:
		why = fmt.Sprintf("kernel has no FUSE-BPF ABI: %s", strings.Join(pr.KernelTierReasons, "; "))
	}
	if enforcement == EnforcementKernel {
		return "", "", fmt.Errorf("%w: enforcement %q: %s", ErrTierUnavailable, enforcement, why)
	}
	return TierUserspace, "enforcement auto: " + why, nil
}

// Audit metrics: one counter per volume, operation and verdict.
var auditOps = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "fusebpf",
	Name:      "audit_operations_total",
	Help:      "File operations reported by audit policies, by volume, FUSE operation and verdict (allowed or the errno).",
}, []string{"volume", "op", "verdict"})

// Registry holds the node plugin's metrics.
var Registry = prometheus.NewRegistry()

func init() {
	Registry.MustRegister(auditOps)
}

// auditLinger is how long the audit drain waits after emptying a volume's
// ring before it blocks for the next event: a busy volume wakes the drain
// about 100 times a second instead of once per file operation. The
// built-in audit ring (256 KiB, 104 bytes an event) holds 2,500 events,
// what a FUSE mount answers in well over 10 ms.
const auditLinger = 10 * time.Millisecond

// drainAudit turns a volume's audit events into log lines and metrics
// until ctx ends.
func drainAudit(ctx context.Context, volumeID string, rb *bpfvm.RingBuffer) {
	rb.Drain(ctx, auditLinger, func(rec *bpfvm.Record) {
		ev, err := policy.DecodeAuditEvent(rec.RawSample)
		if err != nil {
			klog.ErrorS(err, "Bad audit event", "volumeID", volumeID)
			return
		}
		op := opName(ev.Opcode)
		verdict := "allowed"
		if ev.Result < 0 {
			verdict = errnoName(-ev.Result)
		}
		auditOps.WithLabelValues(volumeID, op, verdict).Inc()
		klog.InfoS("Audit", "volumeID", volumeID, "op", op, "nodeID", ev.NodeID, "name", ev.Name,
			"uid", ev.UID, "gid", ev.GID, "pid", ev.PID, "result", verdict)
	})
}

func opName(opcode uint32) string {
	for o := range policy.NumOps {
		if o.Opcode() == opcode {
			return o.String()
		}
	}
	return fmt.Sprintf("opcode%d", opcode)
}

func errnoName(e int32) string {
	if n := errnoNames[e]; n != "" {
		return n
	}
	return fmt.Sprintf("errno%d", e)
}

var errnoNames = map[int32]string{1: "EPERM", 2: "ENOENT", 5: "EIO", 13: "EACCES", 17: "EEXIST", 20: "ENOTDIR",
	21: "EISDIR", 22: "EINVAL", 28: "ENOSPC", 30: "EROFS", 39: "ENOTEMPTY", 61: "ENODATA", 95: "EOPNOTSUPP"}

// auditRing is the ring buffer map the audit policy reports into.
const auditRing = "events"

// policyInstance builds the interpreter instance of a staged volume's
// policy from its record. The object must still be the one the volume was
// staged with: a FilterPolicy changed since then is refused rather than
// silently applied.
func (d *Driver) policyInstance(ctx context.Context, rec *state.Volume) (*policy.Instance, error) {
	params := map[string]string{}
	for k, v := range rec.Parameters {
		if name, ok := strings.CutPrefix(k, ParamPolicyPrefix); ok && name != "" {
			params[name] = v
		}
	}
	name := rec.Policy
	if name == "" {
		name = DefaultPolicy
	}
	rp, err := d.checkPolicy(ctx, volumeSpec{Policy: name, PolicyParams: params})
	if err != nil {
		return nil, err
	}
	if rec.PolicyDigest != "" && rp.digest != rec.PolicyDigest {
		return nil, fmt.Errorf("%w: policy %s changed since the volume was staged (object %s, staged with %s)",
			ErrPolicyChanged, name, short(rp.digest), short(rec.PolicyDigest))
	}
	logger := klog.FromContext(ctx).WithValues("volumeID", rec.ID, "policy", name)
	in, err := rp.policy.Instantiate(rp.values, policy.InstanceOptions{
		Trace: func(msg string) { logger.V(4).Info("bpf_printk", "msg", msg) },
	})
	if err != nil {
		return nil, fmt.Errorf("%w: policy %s: %v", ErrPolicyChanged, name, err)
	}
	return in, nil
}

func short(digest string) string {
	if len(digest) > 12 {
		return digest[:12]
	}
	return digest
}

// topologySource is what a PolicySource that knows every node's verdicts
// (pkg/kube's Resolver) offers.
type topologySource interface {
	AccessibleNodes(ctx context.Context, name, enforcement string) ([]kube.Accessible, error)
}

// checkEnforceable refuses to create a volume on this node when the
// cluster's per-node validation says this node cannot enforce the policy
// under the requested enforcement (for example enforcement kernel on a
// stock kernel). The error is ResourceExhausted, so a provisioner with
// WaitForFirstConsumer reschedules, and it carries every node's verdict.
// Without a cluster there is nothing to consult; staging checks again.
func (d *Driver) checkEnforceable(ctx context.Context, s volumeSpec) error {
	ts, ok := d.policies().(topologySource)
	if !ok {
		return nil
	}
	nodes, err := ts.AccessibleNodes(ctx, s.Policy, s.Enforcement)
	if err != nil {
		return fmt.Errorf("%w: policy %s, enforcement %s: %v", ErrTopology, s.Policy, s.Enforcement, err)
	}
	for _, n := range nodes {
		if n.Node == d.opts.NodeID {
			return nil
		}
	}
	return fmt.Errorf("%w: policy %s cannot be enforced on node %s with enforcement %s", ErrTopology, s.Policy, d.opts.NodeID, s.Enforcement)
}
