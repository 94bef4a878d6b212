// Package v1alpha1 holds the fusebpf.csi.io/v1alpha1 API: FilterPolicy, a
// BPF policy object that StorageClasses name, and FuseBPFNode, what one
// node's kernel offers the enforcement tiers (ARCHITECTURE.md §3, §4).
//
// Both kinds are cluster-scoped. The CustomResourceDefinitions in the Helm
// chart (deploy/helm/fusebpf-csi/crds) and the deep-copy functions are
// generated from these types by controller-gen; run `go generate` in this
// directory after changing them. A test fails when they drift.
//
// +kubebuilder:object:generate=true
// +groupName=fusebpf.csi.io
package v1alpha1

//go:generate go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0 object paths=. crd:maxDescLen=1024 output:crd:dir=../../../../deploy/helm/fusebpf-csi/crds
