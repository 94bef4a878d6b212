package kube

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync/atomic"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/apis/v1alpha1"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/policy"
)

// Topology keys of fusebpf-csi (ARCHITECTURE.md, names table).
const (
	// TopologyKeyNode is the node a volume can be used on.
	TopologyKeyNode = "fusebpf.csi.io/node"
	// TopologyKeyABI is the node's FUSE-BPF ABI fingerprint.
	TopologyKeyABI = "fusebpf.csi.io/abi"
)

// Accessible is a node that can enforce a policy, and how.
type Accessible struct {
	Node           string
	ABIFingerprint string
	// Tier is the tier that would enforce the policy there.
	Tier v1alpha1.Tier
	// Verdict and Reason are the check's outcome on that node.
	Verdict v1alpha1.Verdict
	Reason  string
}

// Segment is the CSI topology segment of the node: its name, plus its ABI
// fingerprint when the kernel tier enforces (so a kernel change that
// alters the ABI makes the volume inaccessible there instead of running
// the policy against an ABI it was not checked for).
func (a Accessible) Segment() map[string]string {
	seg := map[string]string{TopologyKeyNode: a.Node}
	if a.Tier == v1alpha1.TierKernel {
		seg[TopologyKeyABI] = a.ABIFingerprint
	}
	return seg
}

// Resolver answers the CSI layer's questions about FilterPolicies from
// informer caches: which policy a StorageClass names, with which default
// parameters, and which nodes can enforce it. It checks the policy itself
// (the same checks as the controller, cached), so its answers do not wait
// for the controller to write status. Start it once; it is safe for
// concurrent use.
type Resolver struct {
	client  *Client
	inf     *informers
	checker *checker
	started atomic.Bool
}

// NewResolver returns a resolver that reads through client.
func NewResolver(client *Client) *Resolver {
	return &Resolver{client: client, inf: newInformers(client), checker: newChecker()}
}

// Start runs the resolver's informers until ctx ends and returns once
// their caches are filled.
func (r *Resolver) Start(ctx context.Context) error {
	if err := r.inf.start(ctx); err != nil {
		return err
	}
	r.started.Store(true)
	return nil
}

// Resolve loads the FilterPolicy name for CreateVolume and NodeStage: the
// statically checked policy object, the spec's default parameters (a
// copy; StorageClass parameters override them) and the object's digest.
// Errors wrap ErrPolicyNotFound, or ErrPolicyInvalid together with the
// policy package's error (ErrUnknownBuiltin, ErrInvalidObject,
// ErrInvalidParameter).
func (r *Resolver) Resolve(ctx context.Context, name string) (*policy.Policy, policy.Values, string, error) {
	fp, err := r.get(ctx, name)
	if err != nil {
		return nil, nil, "", err
	}
	res := r.checker.load(&fp.Spec)
	if res.err != nil {
		return nil, nil, "", fmt.Errorf("filterpolicy %s: %w: %w", name, ErrPolicyInvalid, res.err)
	}
	return res.policy, policy.Values(maps.Clone(fp.Spec.Parameters)), res.policy.Digest, nil
}

// AccessibleNodes lists, sorted by name, the nodes that can enforce the
// FilterPolicy name with an enforcement of "auto" (kernel where the
// policy fits the node's ABI, else userspace), "kernel" (only nodes with
// a kernel verdict) or "userspace" (nodes with /dev/fuse). Without any,
// the error wraps ErrNoAccessibleNode and names each node's verdict.
func (r *Resolver) AccessibleNodes(ctx context.Context, name, enforcement string) ([]Accessible, error) {
	switch enforcement {
	case "":
		enforcement = EnforcementAuto
	case EnforcementAuto, EnforcementKernel, EnforcementUserspace:
	default:
		return nil, fmt.Errorf("%w %q: want auto, kernel or userspace", ErrInvalidEnforcement, enforcement)
	}
	if !r.started.Load() {
		return nil, ErrNotStarted
	}
	p, _, _, err := r.Resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	nodes := r.inf.nodeList()
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	var out []Accessible
	var refused []string
	for _, n := range nodes {
		rep := r.checker.check(p, n)
		tier := tierFor(rep.Verdict, &n.Status, enforcement)
		if tier == "" {
			refused = append(refused, fmt.Sprintf("%s: %s (%s)", n.Name, rep.Verdict, rep.Reason))
			continue
		}
		out = append(out, Accessible{
			Node: n.Name, ABIFingerprint: n.Status.ABIFingerprint, Tier: tier, Verdict: rep.Verdict, Reason: rep.Reason,
		})
	}
	if len(out) == 0 {
		if len(nodes) == 0 {
			return nil, fmt.Errorf("filterpolicy %s, enforcement %s: %w: no FuseBPFNode published yet", name, enforcement, ErrNoAccessibleNode)
		}
		return nil, fmt.Errorf("filterpolicy %s, enforcement %s: %w: %s", name, enforcement, ErrNoAccessibleNode, strings.Join(refused, "; "))
	}
	return out, nil
}

// get reads a FilterPolicy from the cache, or from the API server when
// the cache does not have it yet (a policy created a moment ago).
func (r *Resolver) get(ctx context.Context, name string) (*v1alpha1.FilterPolicy, error) {
	if !r.started.Load() {
		return nil, ErrNotStarted
	}
	if fp := r.inf.policy(name); fp != nil {
		return fp, nil
	}
	fp, err := r.client.FilterPolicies.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("filterpolicy %s: %w", name, ErrPolicyNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("filterpolicy %s: %w", name, err)
	}
	return fp, nil
}
