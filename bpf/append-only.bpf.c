// SPDX-License-Identifier: GPL-2.0
/*
 * append-only: existing files can be read and appended to, but not
 * overwritten, truncated, renamed or removed; new files and directories can
 * be created. Writes must carry O_APPEND (checked at open and again on every
 * write, so clearing O_APPEND with fcntl does not help).
 */
#include <builtin.h>

BUILTIN_OP(ao_open, const struct bpf_fuse_meta_info *meta, struct fuse_open_in *in)
{
	if (in->flags & O_TRUNC)
		return -EPERM;
	if ((in->flags & O_ACCMODE) != 0 && !(in->flags & O_APPEND))
		return -EPERM;
	return BPF_FUSE_CONTINUE;
}

BUILTIN_OP(ao_write, const struct bpf_fuse_meta_info *meta, struct fuse_write_in *in)
{
	if (!(in->flags & O_APPEND))
		return -EPERM;
	return BPF_FUSE_CONTINUE;
}

BUILTIN_OP(ao_setattr, const struct bpf_fuse_meta_info *meta, struct fuse_setattr_in *in)
{
	if (in->valid & FATTR_SIZE)
		return -EPERM;
	return BPF_FUSE_CONTINUE;
}

BUILTIN_OP(ao_fallocate, const struct bpf_fuse_meta_info *meta, struct fuse_fallocate_in *in)
{
	/* Only growing allocations; no punching, collapsing or zeroing. */
	if (in->mode & ~FALLOC_FL_KEEP_SIZE)
		return -EPERM;
	return BPF_FUSE_CONTINUE;
}

#define DENY(op, args...)						\
	BUILTIN_OP(ao_##op, const struct bpf_fuse_meta_info *meta, ##args) \
	{								\
		return -EPERM;						\
	}

DENY(rename)
DENY(rename2)
DENY(unlink)
DENY(rmdir)
DENY(copy_file_range)

SEC(".struct_ops.link")
struct fuse_ops append_only = {
	.open_prefilter = (void *)ao_open,
	.write_iter_prefilter = (void *)ao_write,
	.setattr_prefilter = (void *)ao_setattr,
	.file_fallocate_prefilter = (void *)ao_fallocate,
	.rename_prefilter = (void *)ao_rename,
	.rename2_prefilter = (void *)ao_rename2,
	.unlink_prefilter = (void *)ao_unlink,
	.rmdir_prefilter = (void *)ao_rmdir,
	.copy_file_range_prefilter = (void *)ao_copy_file_range,
	.name = "append_only",
};
