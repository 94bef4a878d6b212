// Package kube connects fusebpf-csi to the Kubernetes API (client-go):
// the fusebpf.csi.io/v1alpha1 resources FilterPolicy and FuseBPFNode
// (types in apis/v1alpha1), a typed [Client] for them, and the three
// parts that use it:
//
//   - the node side: [PublishNode] and [NodePublisher] keep this node's
//     FuseBPFNode (kernel facts from the kernel probe, owned by the Node
//     object) current;
//   - the controller side: [Controller] watches FilterPolicies and
//     FuseBPFNodes with informers, checks every policy statically and
//     against every node's BTF (package compat), and writes conditions
//     and per-node verdicts into FilterPolicy status; [RunController]
//     adds leader election;
//   - the CSI side: [Resolver] turns a StorageClass "policy" name into a
//     loaded policy and its default parameters, and lists the nodes that
//     can enforce it for CreateVolume's accessible topology.
//
// See docs/controller.md for the objects, the verdicts and their reasons.
package kube
