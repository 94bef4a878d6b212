// Package kernel is the kernel tier of fusebpf-csi: everything that talks
// to a kernel carrying the FUSE-BPF Generation A patches (RFC v3/v4,
// struct_ops fuse_ops), as described in FUSE-BPF-ABI.md §1.
//
//   - [ProbeKernel] reads the kernel's BTF and sysfs and reports the tiers
//     the node offers, an ABI [Fingerprint], FUSE passthrough support and the
//     ABI's minimal BTF [Subset] for the controller's policy checks.
//   - [Register] loads a struct_ops policy object with per-volume
//     parameters through cilium/ebpf and registers it under a kernel-wide
//     name derived from the volume ID ([InstanceName]); the returned
//     [Instance] unregisters on Close. The same code registers in-tree
//     struct_ops types such as tcp_congestion_ops.
//   - [MountOptions] and [MountKernel] build and perform the FUSE mount
//     with root_dir=, root_bpf= and, when [NeedsDaemon] proves the policy
//     never hands work to a daemon, no_daemon.
//   - [Explain] turns an errno of a kernel-tier step into an error that
//     says what to fix (FUSE-BPF-ABI.md §1.9).
//
// No public kernel carries FUSE-BPF. On a stock kernel the probe reports
// no kernel tier, and registering a fuse_ops policy or mounting fails with
// an error matching [ErrNotSupported] before anything is left behind. The
// ABI checks run against BTF built from bpf/include/fuse_bpf.h; where the
// ABI document marks an item as inferred ([I]) or unknown ([?]), the code
// says so next to the choice.
package kernel
