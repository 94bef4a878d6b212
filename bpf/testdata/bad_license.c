// SPDX-License-Identifier: MIT
/* A policy whose license is not GPL-compatible. */
#include <fuse_bpf.h>

char LICENSE[] SEC("license") = "MIT";

BPF_FUSE_OP(mit_lookup, const struct bpf_fuse_meta_info *meta, struct fuse_buffer *name)
{
	return BPF_FUSE_CONTINUE;
}

SEC(".struct_ops.link")
struct fuse_ops mit = {
	.lookup_prefilter = (void *)mit_lookup,
	.name = "mit",
};
