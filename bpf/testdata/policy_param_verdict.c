// SPDX-License-Identifier: GPL-2.0
/*
 * A policy whose verdict is a per-volume parameter: its return value is
 * not a constant in the code, so a static scan cannot prove it never asks
 * for the daemon, and the kernel tier keeps one.
 */
#include <fuse_bpf.h>

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 unlink_verdict = BPF_FUSE_CONTINUE;

BPF_FUSE_OP(pv_unlink_pre, const struct bpf_fuse_meta_info *meta,
	    struct fuse_buffer *name)
{
	return unlink_verdict;
}

SEC(".struct_ops.link")
struct fuse_ops param_verdict = {
	.unlink_prefilter = (void *)pv_unlink_pre,
	.name = "param_verdict",
};
