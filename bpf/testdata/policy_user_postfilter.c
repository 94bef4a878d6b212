// SPDX-License-Identifier: GPL-2.0
/*
 * A policy that needs the FUSE daemon: a lookup that misses in the backing
 * directory goes to the daemon's postfilter (BPF_FUSE_USER_POSTFILTER),
 * and getattr results lose their write bits. It reads ABI fields through
 * CO-RE relocations, which the tests resolve against a node's BTF subset.
 */
#include <fuse_bpf.h>

char LICENSE[] SEC("license") = "GPL";

BPF_FUSE_OP(up_lookup_pre, const struct bpf_fuse_meta_info *meta,
	    struct fuse_buffer *name)
{
	return BPF_FUSE_POSTFILTER;
}

BPF_FUSE_OP(up_lookup_post, const struct bpf_fuse_meta_info *meta,
	    const struct fuse_buffer *name, struct fuse_entry_out *out,
	    struct fuse_buffer *entries)
{
	if (meta->error_in == (__u32)-ENOENT && meta->nodeid != 1)
		return BPF_FUSE_USER_POSTFILTER;
	return BPF_FUSE_CONTINUE;
}

BPF_FUSE_OP(up_getattr_pre, const struct bpf_fuse_meta_info *meta,
	    struct fuse_getattr_in *in)
{
	return BPF_FUSE_POSTFILTER;
}

BPF_FUSE_OP(up_getattr_post, const struct bpf_fuse_meta_info *meta,
	    const struct fuse_getattr_in *in, struct fuse_attr_out *out)
{
	out->attr.mode &= ~0222;
	return BPF_FUSE_CONTINUE;
}

SEC(".struct_ops.link")
struct fuse_ops user_postfilter = {
	.lookup_prefilter = (void *)up_lookup_pre,
	.lookup_postfilter = (void *)up_lookup_post,
	.getattr_prefilter = (void *)up_getattr_pre,
	.getattr_postfilter = (void *)up_getattr_post,
	.name = "user_post",
};
