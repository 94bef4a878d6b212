// Package compat decides whether a policy fits a node's kernel: layer 2 of
// ARCHITECTURE.md §4, shared by the FilterPolicy controller and
// `fusebpf-csi policy check`.
//
// [Check] takes a statically checked [policy.Policy] and a node's
// published kernel facts (a FuseBPFNode status: tiers and the BTF subset
// of its FUSE-BPF ABI) and compares them the way the kernel's loader
// would: every callback's struct fuse_ops member must exist on the node
// with the prototype the policy was compiled for (arity and the structs
// its pointer parameters point to), every kfunc the programs call must
// exist with the same arity, and every CO-RE relocation of every program
// must resolve against the node's BTF (btf.CORERelocate). The verdict is
// kernel, userspace or incompatible; the reason names the member, kfunc or
// field at fault. The node's own verifier still has the last word when a
// volume is staged.
package compat
