// SPDX-License-Identifier: GPL-2.0
/*
 * read-only: every operation that would change the backing directory fails
 * with EROFS, before it reaches the backing file system.
 */
#include <builtin.h>

#define DENY(op, args...)						\
	BUILTIN_OP(ro_##op, const struct bpf_fuse_meta_info *meta, ##args) \
	{								\
		return -EROFS;						\
	}

DENY(create_open)
DENY(mknod)
DENY(mkdir)
DENY(rmdir)
DENY(unlink)
DENY(rename)
DENY(rename2)
DENY(link)
DENY(symlink)
DENY(setattr)
DENY(setxattr)
DENY(removexattr)
DENY(write_iter)
DENY(file_fallocate)
DENY(copy_file_range)

BUILTIN_OP(ro_open, const struct bpf_fuse_meta_info *meta, struct fuse_open_in *in)
{
	if ((in->flags & O_ACCMODE) != 0 || (in->flags & O_TRUNC))
		return -EROFS;
	return BPF_FUSE_CONTINUE;
}

SEC(".struct_ops.link")
struct fuse_ops read_only = {
	.open_prefilter = (void *)ro_open,
	.create_open_prefilter = (void *)ro_create_open,
	.mknod_prefilter = (void *)ro_mknod,
	.mkdir_prefilter = (void *)ro_mkdir,
	.rmdir_prefilter = (void *)ro_rmdir,
	.unlink_prefilter = (void *)ro_unlink,
	.rename_prefilter = (void *)ro_rename,
	.rename2_prefilter = (void *)ro_rename2,
	.link_prefilter = (void *)ro_link,
	.symlink_prefilter = (void *)ro_symlink,
	.setattr_prefilter = (void *)ro_setattr,
	.setxattr_prefilter = (void *)ro_setxattr,
	.removexattr_prefilter = (void *)ro_removexattr,
	.write_iter_prefilter = (void *)ro_write_iter,
	.file_fallocate_prefilter = (void *)ro_file_fallocate,
	.copy_file_range_prefilter = (void *)ro_copy_file_range,
	.name = "read_only",
};
