package kube

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/apis/v1alpha1"
)

// Backoff of a policy whose status cannot be written.
const (
	retryBaseDelay = 500 * time.Millisecond
	retryMaxDelay  = 2 * time.Minute
)

// Controller keeps every FilterPolicy's status current: the static checks
// (condition Valid), one verdict per FuseBPFNode (status.nodes), and
// whether any node can enforce it (condition Enforceable). It re-checks a
// policy when its spec changes and every policy when a node's facts
// change. Failed status writes are retried with exponential backoff.
type Controller struct {
	client  *Client
	inf     *informers
	checker *checker
	queue   workqueue.TypedRateLimitingInterface[string]
	now     func() time.Time
}

// NewController returns a controller that uses client. Run starts it.
func NewController(client *Client) *Controller {
	return &Controller{
		client:  client,
		inf:     newInformers(client),
		checker: newChecker(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](retryBaseDelay, retryMaxDelay),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "filterpolicies"}),
		now: time.Now,
	}
}

// Run watches policies and nodes and reconciles with workers goroutines
// until ctx ends. It returns an error only when the informers cannot
// sync before ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) error {
	logger := klog.FromContext(ctx).WithName("filterpolicy-controller")
	ctx = klog.NewContext(ctx, logger)
	defer c.queue.ShutDown()

	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	everyPolicy := func(any) {
		for _, name := range c.inf.policyNames() {
			c.queue.Add(name)
		}
	}
	if _, err := c.inf.policies.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue,
		// Our own status writes come back as updates too; reconciling
		// them finds nothing to change, which keeps the handler simple
		// and repairs a status someone else edited.
		UpdateFunc: func(_, cur any) { enqueue(cur) },
	}); err != nil {
		return err
	}
	if _, err := c.inf.nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: everyPolicy,
		UpdateFunc: func(old, cur any) {
			o, n := old.(*v1alpha1.FuseBPFNode), cur.(*v1alpha1.FuseBPFNode)
			if factsKey(&o.Status) != factsKey(&n.Status) || o.Status.ABIFingerprint != n.Status.ABIFingerprint {
				everyPolicy(cur)
			}
		},
		DeleteFunc: everyPolicy,
	}); err != nil {
		return err
	}
	if err := c.inf.start(ctx); err != nil {
		return err
	}
	logger.Info("Started", "workers", workers)

	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	logger.Info("Stopped")
	return nil
}

func (c *Controller) processNext(ctx context.Context) bool {
	name, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(name)
	logger := klog.FromContext(ctx).WithValues("policy", name)
	if err := c.reconcile(ctx, name); err != nil {
		if ctx.Err() != nil {
			return false
		}
		logger.Error(err, "Status update failed; retrying", "retries", c.queue.NumRequeues(name))
		c.queue.AddRateLimited(name)
		return true
	}
	c.queue.Forget(name)
	return true
}

// reconcile writes the status of one policy if it changed.
func (c *Controller) reconcile(ctx context.Context, name string) error {
	fp := c.inf.policy(name)
	if fp == nil {
		return nil // deleted
	}
	st := c.checker.evaluate(fp, c.inf.nodeList(), metav1.NewTime(c.now().Truncate(time.Second)))
	if equality.Semantic.DeepEqual(st, fp.Status) {
		return nil
	}
	upd := fp.DeepCopy()
	upd.Status = st
	_, err := c.client.FilterPolicies.UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case apierrors.IsConflict(err):
		// The cache is behind; the newer object is on its way.
		return fmt.Errorf("policy %s: %w", name, err)
	case err != nil:
		return fmt.Errorf("policy %s: update status: %w", name, err)
	}
	klog.FromContext(ctx).V(2).Info("Status updated", "policy", name, "summary", st.Summary,
		"valid", conditionStatus(st.Conditions, v1alpha1.ConditionValid),
		"enforceable", conditionStatus(st.Conditions, v1alpha1.ConditionEnforceable))
	return nil
}

func conditionStatus(cs []metav1.Condition, typ string) metav1.ConditionStatus {
	for _, c := range cs {
		if c.Type == typ {
			return c.Status
		}
	}
	return metav1.ConditionUnknown
}
