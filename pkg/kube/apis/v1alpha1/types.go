package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Limits the schema enforces. MaxProgramSize equals policy.MaxObjectSize
// (a test keeps them equal; this package does not import the policy
// package, so that clients of the API need not link the BPF code).
const (
	// MaxProgramSize bounds spec.program, in bytes of ELF.
	MaxProgramSize = 1 << 20
	// MaxBTFSubsetSize bounds status.btfSubset, in bytes of BTF (the
	// kernel package's MaxSubsetSize).
	MaxBTFSubsetSize = 64 << 10
)

// Condition types of a FilterPolicy.
const (
	// ConditionValid is True when the object (or built-in) passed the
	// static checks and the default parameters fit its schema.
	ConditionValid = "Valid"
	// ConditionEnforceable is True when at least one node can enforce the
	// policy with enforcement "auto": its kernel runs it, or its userspace
	// tier does.
	ConditionEnforceable = "Enforceable"
)

// Verdict is the outcome of checking one policy against one node.
// +kubebuilder:validation:Enum=kernel;userspace;incompatible
type Verdict string

// Verdicts of [NodeVerdict].
const (
	// VerdictKernel: the node has the FUSE-BPF ABI and the policy fits
	// it (CO-RE relocations resolve, callbacks and kfuncs match); the
	// kernel tier can enforce it (the node's verifier has the last word
	// at NodeStageVolume).
	VerdictKernel Verdict = "kernel"
	// VerdictUserspace: the node has no usable FUSE-BPF ABI; its
	// userspace interpreter enforces the policy.
	VerdictUserspace Verdict = "userspace"
	// VerdictIncompatible: the node has a FUSE-BPF ABI the policy does
	// not fit, or no tier at all. Enforcement "kernel" cannot use the
	// node; "auto" falls back to the userspace tier where the node has
	// one.
	VerdictIncompatible Verdict = "incompatible"
)

// Tier is an enforcement tier a node offers (ARCHITECTURE.md §1).
// +kubebuilder:validation:Enum=kernel;userspace
type Tier string

// Tiers of [FuseBPFNodeStatus.Tiers].
const (
	TierKernel    Tier = "kernel"
	TierUserspace Tier = "userspace"
)

// FilterPolicy is a BPF policy for filtered volumes: a built-in or a
// compiled object, with default parameters. StorageClasses name it with
// the parameter "policy". The controller checks it against every node's
// kernel and reports per-node verdicts in its status.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=fp,categories=fusebpf
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Builtin",type=string,JSONPath=`.spec.builtin`
// +kubebuilder:printcolumn:name="Valid",type=string,JSONPath=`.status.conditions[?(@.type=="Valid")].status`
// +kubebuilder:printcolumn:name="Enforceable",type=string,JSONPath=`.status.conditions[?(@.type=="Enforceable")].status`
// +kubebuilder:printcolumn:name="Nodes",type=string,JSONPath=`.status.summary`,description="nodes by verdict"
// +kubebuilder:printcolumn:name="Digest",type=string,JSONPath=`.status.digest`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type FilterPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec FilterPolicySpec `json:"spec"`
	// +optional
	Status FilterPolicyStatus `json:"status,omitempty"`
}

// FilterPolicySpec says which policy object to run and its defaults.
// Exactly one of Builtin and Program is set; the controller reports a spec
// with neither or both as Valid=False. (A CEL rule cannot say it: the API
// server decodes format "byte" fields for CEL as URL-safe base64, so any
// rule that touches spec.program fails on objects whose standard base64
// holds a '/' or '+', that is, on nearly every ELF.)
type FilterPolicySpec struct {
	// Builtin names a policy compiled into the driver (allow-all,
	// read-only, hide, append-only, audit, uid-gate; `fusebpf-csi policy
	// inspect NAME` lists its parameters).
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Builtin string `json:"builtin,omitempty"`

	// Program is the policy's BPF ELF object (base64 in YAML; `fusebpf-csi
	// policy pack` emits it), at most 1 MiB: 1398104 characters of
	// base64.
	// +optional
	// +kubebuilder:validation:MaxLength=1398104
	Program []byte `json:"program,omitempty"`

	// Parameters are default values of the policy's parameters (its
	// const volatile globals), by name, in their string forms;
	// StorageClass parameters "policy.<name>" override them per volume.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Parameters map[string]string `json:"parameters,omitempty"`

	// Description says what the policy is for.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`
}

// FilterPolicyStatus is the controller's finding about a FilterPolicy.
type FilterPolicyStatus struct {
	// ObservedGeneration is the metadata.generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Valid and Enforceable.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Digest is the SHA-256 of the policy object that was checked.
	// +optional
	Digest string `json:"digest,omitempty"`

	// Summary counts the nodes by verdict, e.g. "1 kernel, 2 userspace".
	// +optional
	Summary string `json:"summary,omitempty"`

	// Callbacks are the struct fuse_ops members the object fills.
	// +optional
	// +listType=atomic
	Callbacks []string `json:"callbacks,omitempty"`

	// Parameters is the parameter schema read from the object's BTF.
	// +optional
	// +listType=map
	// +listMapKey=name
	Parameters []PolicyParameter `json:"parameters,omitempty"`

	// Nodes holds one verdict per FuseBPFNode.
	// +optional
	// +listType=map
	// +listMapKey=node
	Nodes []NodeVerdict `json:"nodes,omitempty"`
}

// PolicyParameter describes one parameter of a policy object.
type PolicyParameter struct {
	// Name is the variable's name, used as "policy.<name>" in StorageClass
	// parameters.
	Name string `json:"name"`
	// Type is the parameter kind.
	// +kubebuilder:validation:Enum=int;uint;bool;string;stringList;uintList
	Type string `json:"type"`
	// Description spells out the type and its limits.
	// +optional
	Description string `json:"description,omitempty"`
	// Default is the object's own initial value (spec.parameters
	// overrides it).
	// +optional
	Default string `json:"default,omitempty"`
}

// NodeVerdict is the outcome of checking the policy against one node.
type NodeVerdict struct {
	// Node is the node's (and its FuseBPFNode's) name.
	Node string `json:"node"`
	// ABIFingerprint is the node's ABI fingerprint at the check.
	// +optional
	ABIFingerprint string `json:"abiFingerprint,omitempty"`
	// Verdict is kernel, userspace or incompatible.
	Verdict Verdict `json:"verdict"`
	// Reason says why, naming the member, kfunc or field at fault for an
	// incompatible node.
	// +optional
	Reason string `json:"reason,omitempty"`
}

// FilterPolicyList is a list of FilterPolicy.
//
// +kubebuilder:object:root=true
type FilterPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []FilterPolicy `json:"items"`
}

// FuseBPFNode is what one node's kernel offers the enforcement tiers, as
// its node plugin probed it. It is named after the node and owned by the
// Node object, so it goes when the node goes.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,categories=fusebpf
// +kubebuilder:subresource:status
// +kubebuilder:validation:XValidation:rule="self.metadata.name == self.spec.nodeName",message="metadata.name must equal spec.nodeName"
// +kubebuilder:printcolumn:name="Tiers",type=string,JSONPath=`.status.tiers`
// +kubebuilder:printcolumn:name="Kernel",type=string,JSONPath=`.status.kernelRelease`
// +kubebuilder:printcolumn:name="ABI",type=string,JSONPath=`.status.abiFingerprint`
// +kubebuilder:printcolumn:name="Passthrough",type=boolean,JSONPath=`.status.passthrough`
// +kubebuilder:printcolumn:name="Driver",type=string,JSONPath=`.status.driverVersion`,priority=1
// +kubebuilder:printcolumn:name="Probed",type=date,JSONPath=`.status.lastProbeTime`
type FuseBPFNode struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec FuseBPFNodeSpec `json:"spec"`
	// +optional
	Status FuseBPFNodeStatus `json:"status,omitempty"`
}

// FuseBPFNodeSpec names the node.
type FuseBPFNodeSpec struct {
	// NodeName is the Kubernetes node this object describes.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.nodeName is immutable"
	NodeName string `json:"nodeName"`
}

// FuseBPFNodeStatus is the node plugin's kernel probe
// (`fusebpf-csi probe` prints the same facts).
type FuseBPFNodeStatus struct {
	// KernelRelease is uname -r.
	// +optional
	KernelRelease string `json:"kernelRelease,omitempty"`
	// Tiers are the enforcement tiers the node offers, best first.
	// +optional
	// +listType=atomic
	Tiers []Tier `json:"tiers,omitempty"`
	// FuseBPF is true when the kernel's BTF has the complete FUSE-BPF
	// Generation A ABI (struct_ops fuse_ops).
	FuseBPF bool `json:"fuseBPF"`
	// KernelTierReasons say why the kernel tier is absent.
	// +optional
	// +listType=atomic
	KernelTierReasons []string `json:"kernelTierReasons,omitempty"`
	// ABIFingerprint identifies the FUSE-BPF ABI shape; "none" on kernels
	// without fuse_ops. It is the topology value fusebpf.csi.io/abi.
	// +optional
	ABIFingerprint string `json:"abiFingerprint,omitempty"`
	// Kfuncs is the FUSE kfunc name set the kernel offers, if any.
	// +optional
	Kfuncs string `json:"kfuncs,omitempty"`
	// Passthrough reports mainline FUSE passthrough for file data.
	Passthrough bool `json:"passthrough"`
	// PassthroughReason is the evidence for Passthrough.
	// +optional
	PassthroughReason string `json:"passthroughReason,omitempty"`
	// DevFuse reports /dev/fuse, the condition for the userspace tier.
	DevFuse bool `json:"devFuse"`
	// BTFSubset is the minimal BTF of the node's FUSE-BPF ABI (fuse_ops,
	// the structs its callbacks take, the kfuncs), marshalled by
	// cilium/ebpf; empty without fuse_ops. The controller checks policies
	// against it.
	// +optional
	// +kubebuilder:validation:MaxLength=87384
	BTFSubset []byte `json:"btfSubset,omitempty"`
	// DriverVersion is the version of the node plugin that probed.
	// +optional
	DriverVersion string `json:"driverVersion,omitempty"`
	// LastProbeTime is when the facts were gathered.
	// +optional
	LastProbeTime metav1.Time `json:"lastProbeTime,omitempty"`
}

// FuseBPFNodeList is a list of FuseBPFNode.
//
// +kubebuilder:object:root=true
type FuseBPFNodeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []FuseBPFNode `json:"items"`
}

// HasTier reports whether the node offers tier.
func (s *FuseBPFNodeStatus) HasTier(tier Tier) bool {
	for _, t := range s.Tiers {
		if t == tier {
			return true
		}
	}
	return false
}
