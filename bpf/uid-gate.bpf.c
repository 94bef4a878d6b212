// SPDX-License-Identifier: GPL-2.0
/*
 * uid-gate: operations are allowed only for callers whose uid is in
 * allowedUids or whose gid is in allowedGids (root too when allowRoot is
 * set, the default, so kubelet can still apply fsGroup); everyone else gets
 * EACCES, for every operation.
 */
#include <builtin.h>

#define MAX_IDS 16

const volatile __u32 allowedUids[MAX_IDS] = {};
const volatile __u32 allowedUidsCount = 0;
const volatile __u32 allowedGids[MAX_IDS] = {};
const volatile __u32 allowedGidsCount = 0;
const volatile bool allowRoot = true;

static __noinline __u32 gate(void)
{
	__u64 ug = bpf_get_current_uid_gid();
	__u32 uid = (__u32)ug, gid = ug >> 32;
	__u32 i;

	if (allowRoot && uid == 0)
		return BPF_FUSE_CONTINUE;
	for (i = 0; i < MAX_IDS; i++) {
		if (i >= allowedUidsCount)
			break;
		if (allowedUids[i] == uid)
			return BPF_FUSE_CONTINUE;
	}
	for (i = 0; i < MAX_IDS; i++) {
		if (i >= allowedGidsCount)
			break;
		if (allowedGids[i] == gid)
			return BPF_FUSE_CONTINUE;
	}
	return -EACCES;
}

#define GATE(op)							\
	BUILTIN_OP(ug_##op, const struct bpf_fuse_meta_info *meta)	\
	{								\
		return gate();						\
	}

GATE(open) GATE(opendir) GATE(create_open) GATE(flush) GATE(lseek)
GATE(copy_file_range) GATE(fsync) GATE(dir_fsync) GATE(getxattr)
GATE(listxattr) GATE(setxattr) GATE(removexattr) GATE(read_iter)
GATE(write_iter) GATE(file_fallocate) GATE(lookup) GATE(mknod) GATE(mkdir)
GATE(rmdir) GATE(rename2) GATE(rename) GATE(unlink) GATE(link)
GATE(getattr) GATE(setattr) GATE(statfs) GATE(get_link) GATE(symlink)
GATE(readdir) GATE(access)

SEC(".struct_ops.link")
struct fuse_ops uid_gate = {
	.open_prefilter = (void *)ug_open,
	.opendir_prefilter = (void *)ug_opendir,
	.create_open_prefilter = (void *)ug_create_open,
	.flush_prefilter = (void *)ug_flush,
	.lseek_prefilter = (void *)ug_lseek,
	.copy_file_range_prefilter = (void *)ug_copy_file_range,
	.fsync_prefilter = (void *)ug_fsync,
	.dir_fsync_prefilter = (void *)ug_dir_fsync,
	.getxattr_prefilter = (void *)ug_getxattr,
	.listxattr_prefilter = (void *)ug_listxattr,
	.setxattr_prefilter = (void *)ug_setxattr,
	.removexattr_prefilter = (void *)ug_removexattr,
	.read_iter_prefilter = (void *)ug_read_iter,
	.write_iter_prefilter = (void *)ug_write_iter,
	.file_fallocate_prefilter = (void *)ug_file_fallocate,
	.lookup_prefilter = (void *)ug_lookup,
	.mknod_prefilter = (void *)ug_mknod,
	.mkdir_prefilter = (void *)ug_mkdir,
	.rmdir_prefilter = (void *)ug_rmdir,
	.rename2_prefilter = (void *)ug_rename2,
	.rename_prefilter = (void *)ug_rename,
	.unlink_prefilter = (void *)ug_unlink,
	.link_prefilter = (void *)ug_link,
	.getattr_prefilter = (void *)ug_getattr,
	.setattr_prefilter = (void *)ug_setattr,
	.statfs_prefilter = (void *)ug_statfs,
	.get_link_prefilter = (void *)ug_get_link,
	.symlink_prefilter = (void *)ug_symlink,
	.readdir_prefilter = (void *)ug_readdir,
	.access_prefilter = (void *)ug_access,
	.name = "uid_gate",
};
