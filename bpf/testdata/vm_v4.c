// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture for pkg/bpfvm built with -mcpu=v4: sign-extending loads and
 * moves, signed division and modulo, unconditional byte swap and the
 * 32-bit-offset jump (gotol).
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct vm_args {
	__u64 in;
	__u64 out[8];
};

SEC("syscall")
int signs(struct vm_args *a)
{
	const char *p = (const char *)&a->in;
	volatile __s64 x = (__s64)a->in;
	__s32 y = (__s32)x;

	a->out[0] = *(const volatile __s8 *)p;
	a->out[1] = *(const volatile __s16 *)(p + 2);
	a->out[2] = *(const volatile __s32 *)(p + 4);
	a->out[3] = x / -7;
	a->out[4] = x % -7;
	a->out[5] = (__u32)(y / 3);
	a->out[6] = (__s64)(__s16)(__u64)(x + 1) + (__u32)(__s32)(__s8)(__u32)(x - 1);
	a->out[7] = __builtin_bswap64(a->in);
	return 0;
}

SEC("syscall")
int far_jump(struct vm_args *a)
{
	__u64 r;

	asm volatile("%[r] = 1\n"
		     "gotol +1\n"
		     "%[r] = 2\n"
		     : [r] "=r"(r));
	a->out[0] = r;
	return 0;
}
