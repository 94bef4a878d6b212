// SPDX-License-Identifier: GPL-2.0
/*
 * bench_hide_audit: the benchmark's "filtered" volume, hide and audit in one
 * policy (a volume has exactly one). Names matching hidePatterns do not
 * exist (bpf/include/hide.h, as in bpf/hide.bpf.c); every operation, allowed
 * or refused, is one event in the ring buffer `events` (bpf/include/audit.h,
 * as in bpf/audit.bpf.c), so the same decoder reads both.
 *
 * A refusal by the hide logic happens in the prefilter, where the kernel
 * never runs the postfilter, so the prefilter records the event itself with
 * the errno it returns. Every other operation asks for the postfilter and is
 * recorded there with the backing operation's result.
 */
#include <fuse_bpf.h>
#include <hide.h>
#include <audit.h>

char LICENSE[] SEC("license") = "GPL";

AUDIT_POST(open) AUDIT_POST(opendir) AUDIT_POST(release) AUDIT_POST(releasedir)
AUDIT_POST(flush) AUDIT_POST(lseek) AUDIT_POST(copy_file_range) AUDIT_POST(fsync)
AUDIT_POST(dir_fsync) AUDIT_POST(listxattr) AUDIT_POST(file_fallocate)
AUDIT_POST(getattr) AUDIT_POST(setattr) AUDIT_POST(statfs) AUDIT_POST(access)
AUDIT_POST_N1(getxattr, const struct fuse_getxattr_in *in)
AUDIT_POST_N1(setxattr, const struct fuse_setxattr_in *in)
AUDIT_POST_N0(removexattr)
AUDIT_POST_N0(rmdir)
AUDIT_POST_N0(unlink)
AUDIT_POST_N0(get_link)

/* ---- hide and audit together ---- */

/* Lookup of a hidden name: ENOENT, recorded as such. */
BPF_FUSE_OP(au_lookup_pre, const struct bpf_fuse_meta_info *meta, struct fuse_buffer *name)
{
	if (hide_fuse_name(name)) {
		audit_emit(meta, name, -ENOENT);
		return -ENOENT;
	}
	return BPF_FUSE_POSTFILTER;
}

BPF_FUSE_OP(au_lookup_post, const struct bpf_fuse_meta_info *meta,
	    const struct fuse_buffer *name, struct fuse_entry_out *out,
	    struct fuse_buffer *entries)
{
	audit_emit(meta, name, (__s32)meta->error_in);
	return BPF_FUSE_CONTINUE;
}

/* Creating a hidden name is refused: it would vanish on arrival. */
#define REFUSE1(op, in)							\
	BPF_FUSE_OP(au_##op##_pre, const struct bpf_fuse_meta_info *meta, \
		    in, struct fuse_buffer *name)			\
	{								\
		if (hide_fuse_name(name)) {				\
			audit_emit(meta, name, -EACCES);		\
			return -EACCES;					\
		}							\
		return BPF_FUSE_POSTFILTER;				\
	}								\
	BPF_FUSE_OP(au_##op##_post, const struct bpf_fuse_meta_info *meta, \
		    const in, const struct fuse_buffer *name)		\
	{								\
		audit_emit(meta, name, (__s32)meta->error_in);		\
		return BPF_FUSE_CONTINUE;				\
	}

REFUSE1(create_open, struct fuse_create_in *in)
REFUSE1(mknod, struct fuse_mknod_in *in)
REFUSE1(mkdir, struct fuse_mkdir_in *in)
REFUSE1(link, struct fuse_link_in *in)

BPF_FUSE_OP(au_symlink_pre, const struct bpf_fuse_meta_info *meta,
	    struct fuse_buffer *name, struct fuse_buffer *path)
{
	if (hide_fuse_name(name)) {
		audit_emit(meta, name, -EACCES);
		return -EACCES;
	}
	return BPF_FUSE_POSTFILTER;
}

BPF_FUSE_OP(au_symlink_post, const struct bpf_fuse_meta_info *meta,
	    const struct fuse_buffer *name, const struct fuse_buffer *path)
{
	audit_emit(meta, name, (__s32)meta->error_in);
	return BPF_FUSE_CONTINUE;
}

#define REFUSE_RENAME(op, in)						\
	BPF_FUSE_OP(au_##op##_pre, const struct bpf_fuse_meta_info *meta, \
		    in, struct fuse_buffer *old_name,			\
		    struct fuse_buffer *new_name)			\
	{								\
		if (hide_fuse_name(new_name)) {				\
			audit_emit(meta, new_name, -EACCES);		\
			return -EACCES;					\
		}							\
		return BPF_FUSE_POSTFILTER;				\
	}								\
	BPF_FUSE_OP(au_##op##_post, const struct bpf_fuse_meta_info *meta, \
		    const in, const struct fuse_buffer *old_name,	\
		    const struct fuse_buffer *new_name)			\
	{								\
		audit_emit(meta, old_name, (__s32)meta->error_in);	\
		return BPF_FUSE_CONTINUE;				\
	}

REFUSE_RENAME(rename, struct fuse_rename_in *in)
REFUSE_RENAME(rename2, struct fuse_rename2_in *in)

/* Readdir always takes the postfilter: it drops hidden names and records. */
BPF_FUSE_OP(au_readdir_pre, const struct bpf_fuse_meta_info *meta, struct fuse_read_in *in)
{
	return BPF_FUSE_POSTFILTER;
}

BPF_FUSE_OP(au_readdir_post, const struct bpf_fuse_meta_info *meta,
	    const struct fuse_read_in *in, struct fuse_read_out *out,
	    struct fuse_buffer *dirents)
{
	audit_emit(meta, 0, (__s32)meta->error_in);
	if (hidePatternsCount)
		hide_dirents(out, dirents);
	return BPF_FUSE_CONTINUE;
}

SEC(".struct_ops.link")
struct fuse_ops bench_hide_audit = {
	AUDIT_ALL_OPS,
	.name = "hide_audit",
};
