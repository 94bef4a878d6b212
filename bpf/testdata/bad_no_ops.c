// SPDX-License-Identifier: GPL-2.0
/* Not a policy: a socket filter, no fuse_ops instance. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("socket")
int not_a_policy(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
