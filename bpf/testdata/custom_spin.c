// SPDX-License-Identifier: GPL-2.0
/*
 * A policy whose lookup prefilter never ends. The kernel's verifier would
 * refuse it; the userspace tier stops it at the instruction budget and
 * fails the lookup closed with EIO.
 */
#include <fuse_bpf.h>

char LICENSE[] SEC("license") = "GPL";

const volatile __u64 spin = 1;

BPF_FUSE_OP(spin_lookup, const struct bpf_fuse_meta_info *meta, struct fuse_buffer *name)
{
	volatile __u64 n = 0;

	while (spin)
		n++;
	return BPF_FUSE_CONTINUE;
}

SEC(".struct_ops.link")
struct fuse_ops spinner = {
	.lookup_prefilter = (void *)spin_lookup,
	.name = "spinner",
};
