package kubetest

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/gentype"
	clienttesting "k8s.io/client-go/testing"

	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube"
	"github.com/fusebpf-csi/fusebpf-csi/pkg/kube/apis/v1alpha1"
)

// Fake is an in-memory fusebpf.csi.io API for unit tests: a [kube.Client]
// over client-go's object tracker. Actions records every call.
type Fake struct {
	*kube.Client
	clienttesting.Fake
	Tracker clienttesting.ObjectTracker
}

// NewFakeClient returns a fake API holding objs (FilterPolicies and
// FuseBPFNodes). It has no schema validation, status subresource
// semantics or generation bookkeeping: use [Start] for those.
func NewFakeClient(objs ...runtime.Object) *Fake {
	tracker := clienttesting.NewObjectTracker(kube.Scheme, serializer.NewCodecFactory(kube.Scheme).UniversalDecoder())
	for _, o := range objs {
		if err := tracker.Add(o); err != nil {
			panic(err)
		}
	}
	f := &Fake{Tracker: tracker}
	f.AddReactor("*", "*", clienttesting.ObjectReaction(tracker))
	f.AddWatchReactor("*", func(action clienttesting.Action) (bool, watch.Interface, error) {
		var opts metav1.ListOptions
		if wa, ok := action.(clienttesting.WatchActionImpl); ok {
			opts = wa.ListOptions
		}
		w, err := tracker.Watch(action.GetResource(), action.GetNamespace(), opts)
		if err != nil {
			return false, nil, err
		}
		return true, w, nil
	})
	gv := v1alpha1.SchemeGroupVersion
	f.Client = &kube.Client{
		FilterPolicies: noWatchList[*v1alpha1.FilterPolicy, *v1alpha1.FilterPolicyList]{gentype.NewFakeClientWithList(&f.Fake, "",
			gv.WithResource(v1alpha1.FilterPolicies), gv.WithKind("FilterPolicy"),
			func() *v1alpha1.FilterPolicy { return &v1alpha1.FilterPolicy{} },
			func() *v1alpha1.FilterPolicyList { return &v1alpha1.FilterPolicyList{} },
			func(dst, src *v1alpha1.FilterPolicyList) { dst.ListMeta = src.ListMeta },
			func(l *v1alpha1.FilterPolicyList) []*v1alpha1.FilterPolicy { return gentype.ToPointerSlice(l.Items) },
			func(l *v1alpha1.FilterPolicyList, items []*v1alpha1.FilterPolicy) {
				l.Items = gentype.FromPointerSlice(items)
			})},
		FuseBPFNodes: noWatchList[*v1alpha1.FuseBPFNode, *v1alpha1.FuseBPFNodeList]{gentype.NewFakeClientWithList(&f.Fake, "",
			gv.WithResource(v1alpha1.FuseBPFNodes), gv.WithKind("FuseBPFNode"),
			func() *v1alpha1.FuseBPFNode { return &v1alpha1.FuseBPFNode{} },
			func() *v1alpha1.FuseBPFNodeList { return &v1alpha1.FuseBPFNodeList{} },
			func(dst, src *v1alpha1.FuseBPFNodeList) { dst.ListMeta = src.ListMeta },
			func(l *v1alpha1.FuseBPFNodeList) []*v1alpha1.FuseBPFNode { return gentype.ToPointerSlice(l.Items) },
			func(l *v1alpha1.FuseBPFNodeList, items []*v1alpha1.FuseBPFNode) {
				l.Items = gentype.FromPointerSlice(items)
			})},
	}
	return f
}

// noWatchList tells informers that the tracker cannot stream a watch
// list, as client-go's own fake clientsets do.
type noWatchList[T interface {
	runtime.Object
	metav1.Object
}, L runtime.Object] struct {
	*gentype.FakeClientWithList[T, L]
}

// IsWatchListSemanticsUnSupported is the reflector's optional interface.
func (noWatchList[T, L]) IsWatchListSemanticsUnSupported() bool { return true }
