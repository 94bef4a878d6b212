// SPDX-License-Identifier: GPL-2.0
/*
 * A custom (not built-in) policy used by the tests of `--policy FILE`:
 * files whose names end in `suffix` (default ".exe") cannot be created,
 * and chmod can never set an execute bit. Reads and everything else pass.
 */
#include <fuse_bpf.h>

char LICENSE[] SEC("license") = "GPL";

const volatile char suffix[16] = ".exe";

static __always_inline bool has_suffix(const struct fuse_buffer *name)
{
	struct bpf_dynptr p;
	__u32 len, n = 0, i;

	for (i = 0; i < sizeof(suffix); i++) {
		if (suffix[i] == 0)
			break;
		n++;
	}
	if (n == 0)
		return false;
	bpf_fuse_get_ro_dynptr(name, &p);
	len = fuse_name_len(name, &p);
	if (len < n)
		return false;
	return fuse_name_cmp_at(&p, len - n, (const char *)suffix, n);
}

BPF_FUSE_OP(noexec_create, const struct bpf_fuse_meta_info *meta,
	    struct fuse_create_in *in, struct fuse_buffer *name)
{
	if (has_suffix(name))
		return -EPERM;
	in->mode &= ~0111;
	return BPF_FUSE_CONTINUE;
}

BPF_FUSE_OP(noexec_setattr, const struct bpf_fuse_meta_info *meta,
	    struct fuse_setattr_in *in)
{
	if ((in->valid & 1 /* FATTR_MODE */) && (in->mode & 0111))
		return -EPERM;
	return BPF_FUSE_CONTINUE;
}

SEC(".struct_ops.link")
struct fuse_ops noexec = {
	.create_open_prefilter = (void *)noexec_create,
	.setattr_prefilter = (void *)noexec_setattr,
	.name = "noexec",
};
