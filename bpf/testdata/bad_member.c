// SPDX-License-Identifier: GPL-2.0
/*
 * A policy built against a different struct fuse_ops, with a callback on a
 * member the ABI does not have.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct bpf_fuse_meta_info {
	__u64 nodeid;
	__u32 opcode;
	__u32 error_in;
};

struct fuse_ops {
	__u32 (*teleport_prefilter)(const struct bpf_fuse_meta_info *meta);
	char name[15];
};

SEC("struct_ops/bogus")
__u32 BPF_PROG(bogus, const struct bpf_fuse_meta_info *meta)
{
	return 0;
}

SEC(".struct_ops.link")
struct fuse_ops bogus_ops = {
	.teleport_prefilter = (void *)bogus,
	.name = "bogus",
};
