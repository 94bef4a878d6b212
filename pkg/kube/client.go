package kube

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/gentype"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/apis/v1alpha1"
)

// Scheme knows the fusebpf.csi.io/v1alpha1 types and the meta types their
// requests carry.
var Scheme = runtime.NewScheme()

var (
	codecs         = serializer.NewCodecFactory(Scheme)
	parameterCodec = runtime.NewParameterCodec(Scheme)
)

func init() {
	if err := v1alpha1.AddToScheme(Scheme); err != nil {
		panic(err)
	}
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
}

// FilterPolicyInterface reads and writes FilterPolicy objects.
type FilterPolicyInterface interface {
	Create(ctx context.Context, p *v1alpha1.FilterPolicy, opts metav1.CreateOptions) (*v1alpha1.FilterPolicy, error)
	Update(ctx context.Context, p *v1alpha1.FilterPolicy, opts metav1.UpdateOptions) (*v1alpha1.FilterPolicy, error)
	UpdateStatus(ctx context.Context, p *v1alpha1.FilterPolicy, opts metav1.UpdateOptions) (*v1alpha1.FilterPolicy, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*v1alpha1.FilterPolicy, error)
	List(ctx context.Context, opts metav1.ListOptions) (*v1alpha1.FilterPolicyList, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// FuseBPFNodeInterface reads and writes FuseBPFNode objects.
type FuseBPFNodeInterface interface {
	Create(ctx context.Context, n *v1alpha1.FuseBPFNode, opts metav1.CreateOptions) (*v1alpha1.FuseBPFNode, error)
	Update(ctx context.Context, n *v1alpha1.FuseBPFNode, opts metav1.UpdateOptions) (*v1alpha1.FuseBPFNode, error)
	UpdateStatus(ctx context.Context, n *v1alpha1.FuseBPFNode, opts metav1.UpdateOptions) (*v1alpha1.FuseBPFNode, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*v1alpha1.FuseBPFNode, error)
	List(ctx context.Context, opts metav1.ListOptions) (*v1alpha1.FuseBPFNodeList, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// Client is a typed client of the fusebpf.csi.io/v1alpha1 API.
type Client struct {
	FilterPolicies FilterPolicyInterface
	FuseBPFNodes   FuseBPFNodeInterface
}

// NewForConfig returns a client for the API server cfg describes. cfg is
// not modified.
func NewForConfig(cfg *rest.Config) (*Client, error) {
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &v1alpha1.SchemeGroupVersion
	c.APIPath = "/apis"
	c.ContentType = runtime.ContentTypeJSON
	c.NegotiatedSerializer = codecs.WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	rc, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("fusebpf.csi.io client: %w", err)
	}
	return &Client{
		FilterPolicies: gentype.NewClientWithList(v1alpha1.FilterPolicies, rc, parameterCodec, "",
			func() *v1alpha1.FilterPolicy { return &v1alpha1.FilterPolicy{} },
			func() *v1alpha1.FilterPolicyList { return &v1alpha1.FilterPolicyList{} }),
		FuseBPFNodes: gentype.NewClientWithList(v1alpha1.FuseBPFNodes, rc, parameterCodec, "",
			func() *v1alpha1.FuseBPFNode { return &v1alpha1.FuseBPFNode{} },
			func() *v1alpha1.FuseBPFNodeList { return &v1alpha1.FuseBPFNodeList{} }),
	}, nil
}

// informers are shared watches of both kinds.
type informers struct {
	policies cache.SharedIndexInformer
	nodes    cache.SharedIndexInformer
}

func newInformers(c *Client) *informers {
	// A client may declare that it cannot stream a watch list (fakes
	// over client-go's object tracker do); the reflector then lists.
	return &informers{
		policies: cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return c.FilterPolicies.List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				return c.FilterPolicies.Watch(ctx, o)
			},
		}, c.FilterPolicies), &v1alpha1.FilterPolicy{}, 0, cache.Indexers{}),
		nodes: cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return c.FuseBPFNodes.List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				return c.FuseBPFNodes.Watch(ctx, o)
			},
		}, c.FuseBPFNodes), &v1alpha1.FuseBPFNode{}, 0, cache.Indexers{}),
	}
}

// start runs both informers until ctx ends and waits for their first
// list; it fails if ctx ends first.
func (i *informers) start(ctx context.Context) error {
	go i.policies.RunWithContext(ctx)
	go i.nodes.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), i.policies.HasSynced, i.nodes.HasSynced) {
		return fmt.Errorf("fusebpf.csi.io informers: %w", ctx.Err())
	}
	return nil
}

// policy returns a cached FilterPolicy, nil if there is none.
func (i *informers) policy(name string) *v1alpha1.FilterPolicy {
	obj, ok, err := i.policies.GetStore().GetByKey(name)
	if err != nil || !ok {
		return nil
	}
	return obj.(*v1alpha1.FilterPolicy)
}

// nodeList returns the cached FuseBPFNodes whose facts are published
// (shared: do not modify). A FuseBPFNode is created before its status is
// written; until then it says nothing about its node.
func (i *informers) nodeList() []*v1alpha1.FuseBPFNode {
	objs := i.nodes.GetStore().List()
	out := make([]*v1alpha1.FuseBPFNode, 0, len(objs))
	for _, o := range objs {
		if n := o.(*v1alpha1.FuseBPFNode); !n.Status.LastProbeTime.IsZero() {
			out = append(out, n)
		}
	}
	return out
}

func (i *informers) policyNames() []string {
	return i.policies.GetStore().ListKeys()
}
