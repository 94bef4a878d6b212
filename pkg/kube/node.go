package kube

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/fusebpf/kernel"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/apis/v1alpha1"
)

// NodeStatusFromProbe is the FuseBPFNode status that publishes a kernel
// probe, stamped with the driver's version and the probe's time.
func NodeStatusFromProbe(p *kernel.Probe, driverVersion string, probed time.Time) v1alpha1.FuseBPFNodeStatus {
	st := v1alpha1.FuseBPFNodeStatus{
		KernelRelease:     p.KernelRelease,
		FuseBPF:           p.FuseBPF,
		KernelTierReasons: append([]string(nil), p.KernelTierReasons...),
		ABIFingerprint:    p.ABIFingerprint,
		Kfuncs:            p.Kfuncs,
		Passthrough:       p.Passthrough,
		PassthroughReason: p.PassthroughReason,
		DevFuse:           p.DevFuse,
		BTFSubset:         append([]byte(nil), p.BTFSubset...),
		DriverVersion:     driverVersion,
		LastProbeTime:     metav1.NewTime(probed.Truncate(time.Second)),
	}
	for _, t := range p.Tiers {
		st.Tiers = append(st.Tiers, v1alpha1.Tier(t))
	}
	return st
}

// KernelProbe returns a [NodePublisher] Probe that probes the running
// kernel with kernel.ProbeKernel.
func KernelProbe(driverVersion string) func(context.Context) (v1alpha1.FuseBPFNodeStatus, error) {
	return func(context.Context) (v1alpha1.FuseBPFNodeStatus, error) {
		p, err := kernel.ProbeKernel(kernel.ProbeOptions{})
		if err != nil {
			return v1alpha1.FuseBPFNodeStatus{}, err
		}
		return NodeStatusFromProbe(p, driverVersion, time.Now()), nil
	}
}

// sameFacts reports whether two statuses publish the same facts, whenever
// they were probed.
func sameFacts(a, b *v1alpha1.FuseBPFNodeStatus) bool {
	x, y := *a, *b
	x.LastProbeTime, y.LastProbeTime = metav1.Time{}, metav1.Time{}
	return equality.Semantic.DeepEqual(x, y)
}

// PublishNode creates or updates the FuseBPFNode of nodeName so that it
// carries status, owned by the Node object (which must exist: the
// FuseBPFNode is garbage-collected with it). core reads the Node. It
// writes only what differs and returns the object as stored.
func PublishNode(ctx context.Context, c *Client, core kubernetes.Interface, nodeName string, status v1alpha1.FuseBPFNodeStatus) (*v1alpha1.FuseBPFNode, error) {
	node, err := core.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("fusebpfnode %s: %w: a FuseBPFNode belongs to its Node", nodeName, ErrNodeNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("fusebpfnode %s: get node: %w", nodeName, err)
	}
	owner := metav1.OwnerReference{
		APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID,
	}

	cur, err := c.FuseBPFNodes.Get(ctx, nodeName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		cur, err = c.FuseBPFNodes.Create(ctx, &v1alpha1.FuseBPFNode{
			ObjectMeta: metav1.ObjectMeta{Name: nodeName, OwnerReferences: []metav1.OwnerReference{owner}},
			Spec:       v1alpha1.FuseBPFNodeSpec{NodeName: nodeName},
		}, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("fusebpfnode %s: create: %w", nodeName, err)
		}
	case err != nil:
		return nil, fmt.Errorf("fusebpfnode %s: get: %w", nodeName, err)
	case !ownedBy(cur, node):
		// A node re-created under the same name has a new UID; the old
		// owner reference would let the collector delete the object.
		upd := cur.DeepCopy()
		upd.OwnerReferences = append(withoutNodeOwners(upd.OwnerReferences), owner)
		if cur, err = c.FuseBPFNodes.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
			return nil, fmt.Errorf("fusebpfnode %s: set owner: %w", nodeName, err)
		}
	}
	if equality.Semantic.DeepEqual(cur.Status, status) {
		return cur, nil
	}
	upd := cur.DeepCopy()
	upd.Status = status
	out, err := c.FuseBPFNodes.UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("fusebpfnode %s: update status: %w", nodeName, err)
	}
	return out, nil
}

func ownedBy(n *v1alpha1.FuseBPFNode, node *corev1.Node) bool {
	for _, o := range n.OwnerReferences {
		if o.Kind == "Node" && o.APIVersion == "v1" && o.UID == node.UID {
			return true
		}
	}
	return false
}

func withoutNodeOwners(refs []metav1.OwnerReference) []metav1.OwnerReference {
	var out []metav1.OwnerReference
	for _, o := range refs {
		if o.Kind != "Node" || o.APIVersion != "v1" {
			out = append(out, o)
		}
	}
	return out
}

// DefaultReprobeInterval is how often a NodePublisher probes the kernel
// again by default.
const DefaultReprobeInterval = 5 * time.Minute

// NodePublisher keeps this node's FuseBPFNode current: it publishes at
// start, again when a re-probe finds different facts, and again when the
// object is deleted or its status is changed by someone else (it watches
// the one object). API errors are retried with exponential backoff.
type NodePublisher struct {
	Client *Client
	// Core reads the Node object, the FuseBPFNode's owner.
	Core     kubernetes.Interface
	NodeName string
	// Probe gathers the node's facts, e.g. with kernel.ProbeKernel and
	// NodeStatusFromProbe.
	Probe func(ctx context.Context) (v1alpha1.FuseBPFNodeStatus, error)
	// Interval between probes; DefaultReprobeInterval when zero.
	Interval time.Duration
}

// Run publishes until ctx ends; it returns ctx's error, or a probe
// failure at start.
func (p *NodePublisher) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithValues("node", p.NodeName)
	interval := p.Interval
	if interval <= 0 {
		interval = DefaultReprobeInterval
	}
	facts, err := p.Probe(ctx)
	if err != nil {
		return fmt.Errorf("fusebpfnode %s: probe: %w", p.NodeName, err)
	}

	// Watch our own object to repair deletions and foreign edits.
	changed := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	sel := fields.OneTermEqualSelector("metadata.name", p.NodeName).String()
	inf := cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return p.Client.FuseBPFNodes.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return p.Client.FuseBPFNodes.Watch(ctx, o)
		},
	}, p.Client.FuseBPFNodes), &v1alpha1.FuseBPFNode{}, 0, cache.Indexers{})
	var published atomic.Pointer[v1alpha1.FuseBPFNodeStatus]
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, cur any) {
			n := cur.(*v1alpha1.FuseBPFNode)
			if last := published.Load(); last == nil || !sameFacts(&n.Status, last) {
				poke(nil)
			}
		},
		DeleteFunc: poke,
	}); err != nil {
		return err
	}
	go inf.RunWithContext(ctx)

	publish := func() {
		backoff := wait.Backoff{Duration: retryBaseDelay, Factor: 2, Jitter: 0.1, Steps: 1 << 30, Cap: retryMaxDelay}
		_ = wait.ExponentialBackoffWithContext(ctx, backoff, func(ctx context.Context) (bool, error) {
			out, err := PublishNode(ctx, p.Client, p.Core, p.NodeName, facts)
			if err != nil {
				logger.Error(err, "Publishing FuseBPFNode failed; retrying")
				return false, nil
			}
			st := out.Status
			published.Store(&st)
			logger.V(2).Info("Published FuseBPFNode", "tiers", st.Tiers, "abi", st.ABIFingerprint)
			return true, nil
		})
	}
	publish()

	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
			publish()
		case <-tick.C:
			next, err := p.Probe(ctx)
			if err != nil {
				logger.Error(err, "Kernel probe failed; keeping the published facts")
				continue
			}
			if !sameFacts(&next, &facts) {
				facts = next
				publish()
			}
		}
	}
}
