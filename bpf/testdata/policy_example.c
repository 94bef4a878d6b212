// SPDX-License-Identifier: GPL-2.0
/*
 * The smallest policy: a lookup prefilter that hides one name. It proves
 * that fuse_bpf.h compiles as documented and that the object has the shape
 * the loader expects (one fuse_ops instance in .struct_ops.link).
 */
#include <fuse_bpf.h>

char LICENSE[] SEC("license") = "GPL";

BPF_FUSE_OP(example_lookup, const struct bpf_fuse_meta_info *meta,
	    struct fuse_buffer *name)
{
	if (FUSE_NAME_EQ(name, "secret"))
		return -ENOENT;
	return BPF_FUSE_CONTINUE;
}

SEC(".struct_ops.link")
struct fuse_ops example = {
	.lookup_prefilter = (void *)example_lookup,
	.name = "example",
};
