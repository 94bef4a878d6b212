// SPDX-License-Identifier: GPL-2.0
/*
 * audit: every operation is allowed and reported, with its result, as one
 * event in the ring buffer `events`. The node plugin turns events into log
 * lines and per-volume counters.
 *
 * Data transfers (read_iter, write_iter) are not filtered: opens and
 * releases record who accessed what, and file data keeps FUSE passthrough.
 * A read or write filter would send every read through the daemon.
 */
#include <builtin.h>
#include <audit.h>

AUDIT_POST(open) AUDIT_POST(opendir) AUDIT_POST(release) AUDIT_POST(releasedir)
AUDIT_POST(flush) AUDIT_POST(lseek) AUDIT_POST(copy_file_range) AUDIT_POST(fsync)
AUDIT_POST(dir_fsync) AUDIT_POST(listxattr) AUDIT_POST(file_fallocate)
AUDIT_POST(getattr) AUDIT_POST(setattr) AUDIT_POST(statfs) AUDIT_POST(readdir)
AUDIT_POST(access)
AUDIT_POST_N1(create_open, const struct fuse_create_in *in)
AUDIT_POST_N1(getxattr, const struct fuse_getxattr_in *in)
AUDIT_POST_N1(setxattr, const struct fuse_setxattr_in *in)
AUDIT_POST_N0(removexattr)
AUDIT_POST_N0(lookup)
AUDIT_POST_N1(mknod, const struct fuse_mknod_in *in)
AUDIT_POST_N1(mkdir, const struct fuse_mkdir_in *in)
AUDIT_POST_N0(rmdir)
AUDIT_POST_N1(rename2, const struct fuse_rename2_in *in)
AUDIT_POST_N1(rename, const struct fuse_rename_in *in)
AUDIT_POST_N0(unlink)
AUDIT_POST_N1(link, const struct fuse_link_in *in)
AUDIT_POST_N0(get_link)
AUDIT_POST_N0(symlink)

SEC(".struct_ops.link")
struct fuse_ops audit = {
	AUDIT_ALL_OPS,
	.name = "audit",
};
