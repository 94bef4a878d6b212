// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture for pkg/bpfvm benchmarks and struct_ops lookup: an ALU/branch
 * loop, a memory-bound sort on the stack, and a policy-shaped struct_ops
 * callback (map lookup by caller uid, then name comparisons against
 * .rodata parameters). The Go benchmarks run native equivalents next to
 * them.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct vm_args {
	__u64 in;
	__u64 out[8];
};

/* xorshift64 with data-dependent branches, in->out[0] after in iterations. */
SEC("syscall")
int alu(struct vm_args *a)
{
	__u64 x = a->out[0] | 1, acc = 0;
	__u32 i, n = a->in;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (x & 1)
			acc += x >> 32;
		else
			acc ^= i;
		if ((x & 6) == 6)
			acc = (acc << 1) | (acc >> 63);
	}
	a->out[1] = acc;
	return 0;
}

#define SORT_N 32

/* Insertion sort of 32 words copied onto the stack, then a checksum. */
SEC("syscall")
int mem(struct vm_args *a)
{
	__u32 v[SORT_N];
	__u64 x = a->in | 1, sum = 0;
	int i, j;

	for (i = 0; i < SORT_N; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		v[i] = x;
	}
	for (i = 1; i < SORT_N; i++) {
		__u32 k = v[i];

		for (j = i - 1; j >= 0 && v[j] > k; j--)
			v[j + 1] = v[j];
		v[j + 1] = k;
	}
	for (i = 0; i < SORT_N; i++)
		sum = sum * 31 + v[i];
	a->out[0] = sum;
	a->out[1] = v[0];
	a->out[2] = v[SORT_N - 1];
	return 0;
}

/* The request a policy-shaped callback sees. */
struct vm_req {
	__u32 uid;
	__u32 op;
	char name[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} allowed_ops SEC(".maps");

const volatile char hidden[4][16] = { "secret", ".git", "private", "token" };
const volatile __u32 hidden_count = 4;

/* 0 = allow, -EPERM = op not allowed for uid, -ENOENT = hidden name. */
SEC("struct_ops/check")
int BPF_PROG(check, struct vm_req *req)
{
	__u32 *mask = bpf_map_lookup_elem(&allowed_ops, &req->uid);
	__u32 i;

	if (!mask || !(*mask & (1u << (req->op & 31))))
		return -EPERM;
	for (i = 0; i < 4 && i < hidden_count; i++)
		if (bpf_strncmp(req->name, sizeof(req->name), (const char *)hidden[i]) == 0)
			return -ENOENT;
	return 0;
}

SEC("struct_ops/count")
int BPF_PROG(count, struct vm_req *req)
{
	return req->uid + req->op;
}

/* A struct_ops type of the test's own; the interpreter needs no kernel
 * counterpart. */
struct vm_ops {
	int (*check)(struct vm_req *req);
	int (*count)(struct vm_req *req);
	char name[16];
};

SEC(".struct_ops.link")
struct vm_ops bench_ops = {
	.check = (void *)check,
	.count = (void *)count,
	.name = "bench",
};
