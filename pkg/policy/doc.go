// Package policy loads FUSE-BPF policy objects: BPF ELF files with one
// struct_ops instance of struct fuse_ops (Generation A, see
// bpf/include/fuse_bpf.h). It reads their parameters from BTF, applies
// per-volume values, runs the static checks every object must pass, holds
// the built-in catalog, and runs callbacks in the userspace interpreter.
package policy
