// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture for pkg/bpfvm: dynptrs from an embedder kfunc (shaped like
 * FUSE-BPF's bpf_fuse_get_{ro,rw}_dynptr: a read-only view of an input
 * buffer, and a read-write one the kfunc may grow), from memory, and the
 * generic dynptr helpers and kfuncs, plus bpf_strncmp against .rodata.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct vm_args {
	__u64 in;
	__u64 out[8];
};

/* Implemented by the test: which 0 = the read-only input, which 1 = the
 * output, grown to size bytes. */
extern int vm_test_get_dynptr(__u32 which, struct bpf_dynptr *out, __u32 size) __ksym;
extern void *bpf_dynptr_slice(const struct bpf_dynptr *p, __u32 offset,
			      void *buffer__opt, __u32 buffer__szk) __ksym;
extern void *bpf_dynptr_slice_rdwr(const struct bpf_dynptr *p, __u32 offset,
				   void *buffer__opt, __u32 buffer__szk) __ksym;
extern __u32 bpf_dynptr_size(const struct bpf_dynptr *p) __ksym;

const volatile char prefix[8] = "secret";

SEC("syscall")
int dyn(struct vm_args *a)
{
	struct bpf_dynptr in, out, local;
	char buf[16] = {};
	char *s, *w;
	__u64 *d;

	vm_test_get_dynptr(0, &in, 0);
	a->out[0] = bpf_dynptr_size(&in);
	s = bpf_dynptr_slice(&in, 0, NULL, 6);
	a->out[1] = s ? bpf_strncmp(s, 6, (const char *)prefix) : 99;
	a->out[2] = bpf_dynptr_write(&in, 0, buf, 1, 0);
	a->out[3] = bpf_dynptr_data(&in, 0, 1) == NULL;
	if (bpf_dynptr_read(buf, 6, &in, 0, 0))
		return -1;

	vm_test_get_dynptr(1, &out, 32);
	a->out[4] = bpf_dynptr_write(&out, 0, buf, 6, 0);
	w = bpf_dynptr_slice_rdwr(&out, 6, NULL, 4);
	if (w) {
		w[0] = '-';
		w[1] = 'o';
		w[2] = 'k';
		w[3] = 0;
	}
	d = bpf_dynptr_data(&out, 16, 8);
	if (d)
		*d = 0x1122334455667788ULL;
	a->out[5] = bpf_dynptr_slice(&out, 30, NULL, 4) == NULL;

	bpf_dynptr_from_mem(buf, sizeof(buf), 0, &local);
	a->out[6] = bpf_dynptr_size(&local);
	a->out[7] = bpf_dynptr_read(buf, 4, &local, 14, 0);
	return 0;
}

/* A read-only slice stays read-only even though the buffer behind it is
 * writable memory. */
SEC("syscall")
int write_ro_slice(struct vm_args *a)
{
	struct bpf_dynptr in;
	char *s;

	vm_test_get_dynptr(0, &in, 0);
	s = bpf_dynptr_slice(&in, 0, NULL, 4);
	if (!s)
		return -1;
	*(volatile char *)s = 'X';
	return 0;
}

/* A dynptr whose bytes the program changed is no dynptr at all. */
SEC("syscall")
int forge(struct vm_args *a)
{
	struct bpf_dynptr in;
	char c;

	vm_test_get_dynptr(0, &in, 0);
	((volatile __u32 *)&in)[0] += a->in;
	return bpf_dynptr_read(&c, 1, &in, 0, 0);
}
