// SPDX-License-Identifier: GPL-2.0
/*
 * Not a policy: a description of a FUSE-BPF (Generation A) kernel, whose
 * BTF the tests use as a stand-in for a patched kernel's vmlinux BTF. It
 * references every type of fuse_bpf.h, wraps struct fuse_ops the way the
 * v3 kernel's BPF_STRUCT_OPS_TYPE() does, and calls every FUSE kfunc so
 * their FUNC and FUNC_PROTO records are emitted.
 */
#include <fuse_bpf.h>

char LICENSE[] SEC("license") = "GPL";

/* The struct_ops value wrapper of a 6.3-era kernel (the v3 base). */
enum bpf_struct_ops_state {
	BPF_STRUCT_OPS_STATE_INIT,
	BPF_STRUCT_OPS_STATE_INUSE,
	BPF_STRUCT_OPS_STATE_TOBEFREE,
	BPF_STRUCT_OPS_STATE_READY,
};

typedef struct {
	int counter;
} atomic_t;

typedef struct refcount_struct {
	atomic_t refs;
} refcount_t;

struct bpf_struct_ops_fuse_ops {
	refcount_t refcnt;
	enum bpf_struct_ops_state state;
	struct fuse_ops data __attribute__((aligned(64)));
};

struct bpf_struct_ops_fuse_ops abi_value;
struct fuse_bpf_entry_out abi_entry_out;
struct fuse_in_header abi_in_header;
struct fuse_out_header abi_out_header;
struct fuse_ext_header abi_ext_header;
struct fuse_dirent abi_dirent;
enum fuse_opcode abi_opcode;
enum fuse_bpf_type abi_entry_type;

SEC("syscall")
int abi_kfuncs(void *ctx)
{
	struct fuse_buffer *buf = (struct fuse_buffer *)ctx;
	struct bpf_dynptr p;
	__u32 n = 0;

	bpf_fuse_get_ro_dynptr(buf, &p);
	bpf_fuse_get_rw_dynptr(buf, &p, 8, true);
	n += bpf_fuse_return_len(buf);
	n += bpf_dynptr_size(&p);
	if (bpf_dynptr_slice(&p, 0, NULL, 1))
		n++;
	if (bpf_dynptr_slice_rdwr(&p, 0, NULL, 1))
		n++;
	return n;
}
