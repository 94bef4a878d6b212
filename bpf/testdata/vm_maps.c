// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture for pkg/bpfvm: maps (array, hash, LRU hash, per-CPU array),
 * global data (.rodata parameters, .data, .bss), bpf-to-bpf calls, loops
 * and atomics, run by the userspace interpreter. The programs also provoke
 * the run-time errors the interpreter must report: out-of-bounds access,
 * a write to .rodata, an endless loop and unbounded recursion.
 *
 * Every program takes a pointer to struct vm_args that the test maps.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct vm_args {
	__u64 in;
	__u64 out[8];
};

struct rec {
	__u64 hits;
	__u32 last;
	__u32 flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, struct rec);
} table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4);
	__type(key, __u64);
	__type(value, __u64);
} recent SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} scratch SEC(".maps");

/* Parameters, set per instance through the spec's Variables. */
const volatile __u64 factor = 3;
const volatile char greeting[8] = "hello";

__u64 total;		/* .bss */
__u64 seed = 42;	/* .data */

/* A loop in its own frame. */
static __attribute__((noinline)) __u64 fib(__u32 n)
{
	__u64 a = 0, b = 1, t;
	__u32 i;

	for (i = 0; i < n && i < 90; i++) {
		t = a + b;
		a = b;
		b = t;
	}
	return a;
}

/* A global function: called through a bpf-to-bpf call with a stack
 * pointer argument from the caller's frame. */
__attribute__((noinline)) int sum_bytes(const char *s, int n)
{
	int i, sum = 0;

	for (i = 0; i < n && i < 8; i++)
		sum += s[i];
	return sum;
}

SEC("syscall")
int arith(struct vm_args *a)
{
	char buf[8] = "abcdefg";

	a->out[0] = fib(a->in);
	a->out[1] = sum_bytes(buf, 7);
	a->out[2] = factor * a->in;
	a->out[3] = sum_bytes((const char *)greeting, 5);
	a->out[4] = seed;
	return 0;
}

SEC("syscall")
int count(struct vm_args *a)
{
	__u32 idx = a->in & 3;
	__u64 *v;

	v = bpf_map_lookup_elem(&counters, &idx);
	if (!v)
		return -1;
	__sync_fetch_and_add(v, 1);
	__sync_fetch_and_add(&total, a->in);
	a->out[0] = __sync_fetch_and_add(&seed, 1);
	return 0;
}

SEC("syscall")
int hash_ops(struct vm_args *a)
{
	__u32 key = a->in;
	struct rec r = { .hits = 1, .last = key };
	struct rec *p;

	a->out[0] = bpf_map_update_elem(&table, &key, &r, BPF_NOEXIST);
	a->out[1] = bpf_map_update_elem(&table, &key, &r, BPF_NOEXIST);
	p = bpf_map_lookup_elem(&table, &key);
	if (!p)
		return -1;
	__sync_fetch_and_add(&p->hits, 10);
	p->flags |= 4;
	key += 1000;
	a->out[2] = bpf_map_update_elem(&table, &key, &r, BPF_EXIST);
	a->out[3] = bpf_map_delete_elem(&table, &key);
	a->out[4] = bpf_map_lookup_elem(&table, &key) == 0;
	return 0;
}

SEC("syscall")
int lru_fill(struct vm_args *a)
{
	__u64 k, v;

	for (k = 0; k < a->in && k < 64; k++) {
		v = k * k;
		bpf_map_update_elem(&recent, &k, &v, BPF_ANY);
	}
	return 0;
}

SEC("syscall")
int percpu(struct vm_args *a)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&scratch, &zero);

	if (!v)
		return -1;
	*v += a->in;
	return *v;
}

/* Reads a->out[a->in]: out of bounds for a large in. */
SEC("syscall")
int oob_read(struct vm_args *a)
{
	return a->out[a->in];
}

/* Writes to the value slot after a map element's value. */
SEC("syscall")
int oob_write(struct vm_args *a)
{
	__u32 idx = 3;
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);

	if (!v)
		return -1;
	v[a->in] = 1;
	return 0;
}

/* Stores into .rodata, which the program may only read. */
SEC("syscall")
int write_rodata(struct vm_args *a)
{
	*(volatile __u64 *)&factor = a->in;
	return 0;
}

/* Never terminates while a->in is non-zero. */
SEC("syscall")
int spin(struct vm_args *a)
{
	volatile __u64 n = 0;

	while (a->in)
		n++;
	return n;
}

/* One frame per level, with a stack buffer the callee sees, so the
 * compiler cannot turn the recursion into a loop. */
static __attribute__((noinline)) int deep(volatile char *up, int n)
{
	volatile char here[16];

	here[0] = up[0] + 1;
	if (n <= 0)
		return here[0];
	return deep(here, n - 1) + 1;
}

SEC("syscall")
int recurse(struct vm_args *a)
{
	volatile char start[16];

	start[0] = 0;
	a->out[0] = deep(start, a->in);
	return 0;
}
