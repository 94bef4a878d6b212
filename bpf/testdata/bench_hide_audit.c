// SPDX-License-Identifier: GPL-2.0
/*
 * bench_hide_audit: the benchmark's "filtered" volume, hide and audit in one
 * policy (a volume has exactly one). Names matching hidePatterns do not
 * exist, as in bpf/hide.bpf.c; every operation, allowed or refused, is one
 * event in the ring buffer `events`, laid out as bpf/audit.bpf.c lays it out
 * so the same decoder reads both.
 *
 * A refusal by the hide logic happens in the prefilter, where the kernel
 * never runs the postfilter, so the prefilter records the event itself with
 * the errno it returns. Every other operation asks for the postfilter and is
 * recorded there with the backing operation's result.
 */
#include <fuse_bpf.h>
#include <hide.h>

char LICENSE[] SEC("license") = "GPL";

#define AUDIT_NAME_LEN 64

/* ---- audit: one event per operation, bpf/audit.bpf.c's layout ---- */

struct audit_event {
	__u64 nodeid;
	__u32 opcode;
	__s32 result;
	__u32 uid;
	__u32 gid;
	__u32 pid;
	__u32 namelen;
	char name[AUDIT_NAME_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct audit_event audit_event_btf __attribute__((unused));

static __always_inline void emit(const struct bpf_fuse_meta_info *meta,
				 const struct fuse_buffer *name, __s32 result)
{
	struct audit_event *e;
	struct bpf_dynptr p;
	__u64 ug = bpf_get_current_uid_gid();
	__u32 len;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return;
	e->nodeid = meta->nodeid;
	e->opcode = meta->opcode & 0xffff;
	e->result = result;
	e->uid = (__u32)ug;
	e->gid = ug >> 32;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->namelen = 0;
	if (name) {
		bpf_fuse_get_ro_dynptr(name, &p);
		len = fuse_name_len(name, &p);
		if (len > AUDIT_NAME_LEN)
			len = AUDIT_NAME_LEN;
		if (len && !bpf_dynptr_read(e->name, len, &p, 0, 0))
			e->namelen = len;
	}
	bpf_ringbuf_submit(e, 0);
}

/* Operations hide does not touch: audit only. */
#define PRE(op)								\
	BPF_FUSE_OP(ha_##op##_pre, const struct bpf_fuse_meta_info *meta)	\
	{								\
		return BPF_FUSE_POSTFILTER;				\
	}

#define POST(op)							\
	PRE(op)								\
	BPF_FUSE_OP(ha_##op##_post, const struct bpf_fuse_meta_info *meta)	\
	{								\
		emit(meta, 0, (__s32)meta->error_in);			\
		return BPF_FUSE_CONTINUE;				\
	}

#define POST_N0(op, rest...)						\
	PRE(op)								\
	BPF_FUSE_OP(ha_##op##_post, const struct bpf_fuse_meta_info *meta,	\
		    const struct fuse_buffer *name, ##rest)		\
	{								\
		emit(meta, name, (__s32)meta->error_in);		\
		return BPF_FUSE_CONTINUE;				\
	}

#define POST_N1(op, first, rest...)					\
	PRE(op)								\
	BPF_FUSE_OP(ha_##op##_post, const struct bpf_fuse_meta_info *meta,	\
		    first, const struct fuse_buffer *name, ##rest)	\
	{								\
		emit(meta, name, (__s32)meta->error_in);		\
		return BPF_FUSE_CONTINUE;				\
	}

POST(open) POST(opendir) POST(release) POST(releasedir) POST(flush)
POST(lseek) POST(copy_file_range) POST(fsync) POST(dir_fsync)
POST(listxattr) POST(file_fallocate)
POST(getattr) POST(setattr) POST(statfs) POST(access)
POST_N1(getxattr, const struct fuse_getxattr_in *in)
POST_N1(setxattr, const struct fuse_setxattr_in *in)
POST_N0(removexattr)
POST_N0(rmdir)
POST_N0(unlink)
POST_N0(get_link)

/* ---- hide and audit together ---- */

/* Lookup of a hidden name: ENOENT, recorded as such. */
BPF_FUSE_OP(ha_lookup_pre, const struct bpf_fuse_meta_info *meta, struct fuse_buffer *name)
{
	if (hide_fuse_name(name)) {
		emit(meta, name, -ENOENT);
		return -ENOENT;
	}
	return BPF_FUSE_POSTFILTER;
}

BPF_FUSE_OP(ha_lookup_post, const struct bpf_fuse_meta_info *meta,
	    const struct fuse_buffer *name, struct fuse_entry_out *out,
	    struct fuse_buffer *entries)
{
	emit(meta, name, (__s32)meta->error_in);
	return BPF_FUSE_CONTINUE;
}

/* Creating a hidden name is refused: it would vanish on arrival. */
#define REFUSE1(op, in)							\
	BPF_FUSE_OP(ha_##op##_pre, const struct bpf_fuse_meta_info *meta,	\
		    in, struct fuse_buffer *name)			\
	{								\
		if (hide_fuse_name(name)) {				\
			emit(meta, name, -EACCES);			\
			return -EACCES;					\
		}							\
		return BPF_FUSE_POSTFILTER;				\
	}								\
	BPF_FUSE_OP(ha_##op##_post, const struct bpf_fuse_meta_info *meta,	\
		    const in, const struct fuse_buffer *name)		\
	{								\
		emit(meta, name, (__s32)meta->error_in);		\
		return BPF_FUSE_CONTINUE;				\
	}

REFUSE1(create_open, struct fuse_create_in *in)
REFUSE1(mknod, struct fuse_mknod_in *in)
REFUSE1(mkdir, struct fuse_mkdir_in *in)
REFUSE1(link, struct fuse_link_in *in)

BPF_FUSE_OP(ha_symlink_pre, const struct bpf_fuse_meta_info *meta,
	    struct fuse_buffer *name, struct fuse_buffer *path)
{
	if (hide_fuse_name(name)) {
		emit(meta, name, -EACCES);
		return -EACCES;
	}
	return BPF_FUSE_POSTFILTER;
}

BPF_FUSE_OP(ha_symlink_post, const struct bpf_fuse_meta_info *meta,
	    const struct fuse_buffer *name, const struct fuse_buffer *path)
{
	emit(meta, name, (__s32)meta->error_in);
	return BPF_FUSE_CONTINUE;
}

#define REFUSE_RENAME(op, in)						\
	BPF_FUSE_OP(ha_##op##_pre, const struct bpf_fuse_meta_info *meta,	\
		    in, struct fuse_buffer *old_name,			\
		    struct fuse_buffer *new_name)			\
	{								\
		if (hide_fuse_name(new_name)) {				\
			emit(meta, new_name, -EACCES);			\
			return -EACCES;					\
		}							\
		return BPF_FUSE_POSTFILTER;				\
	}								\
	BPF_FUSE_OP(ha_##op##_post, const struct bpf_fuse_meta_info *meta,	\
		    const in, const struct fuse_buffer *old_name,	\
		    const struct fuse_buffer *new_name)			\
	{								\
		emit(meta, old_name, (__s32)meta->error_in);		\
		return BPF_FUSE_CONTINUE;				\
	}

REFUSE_RENAME(rename, struct fuse_rename_in *in)
REFUSE_RENAME(rename2, struct fuse_rename2_in *in)

/* Readdir always takes the postfilter: it drops hidden names and records. */
BPF_FUSE_OP(ha_readdir_pre, const struct bpf_fuse_meta_info *meta, struct fuse_read_in *in)
{
	return BPF_FUSE_POSTFILTER;
}

BPF_FUSE_OP(ha_readdir_post, const struct bpf_fuse_meta_info *meta,
	    const struct fuse_read_in *in, struct fuse_read_out *out,
	    struct fuse_buffer *dirents)
{
	emit(meta, 0, (__s32)meta->error_in);
	if (hidePatternsCount)
		hide_dirents(out, dirents);
	return BPF_FUSE_CONTINUE;
}

#define OPS(op) .op##_prefilter = (void *)ha_##op##_pre, .op##_postfilter = (void *)ha_##op##_post

SEC(".struct_ops.link")
struct fuse_ops bench_hide_audit = {
	OPS(open), OPS(opendir), OPS(create_open), OPS(release), OPS(releasedir),
	OPS(flush), OPS(lseek), OPS(copy_file_range), OPS(fsync), OPS(dir_fsync),
	OPS(getxattr), OPS(listxattr), OPS(setxattr), OPS(removexattr),
	OPS(file_fallocate), OPS(lookup),
	OPS(mknod), OPS(mkdir), OPS(rmdir), OPS(rename2), OPS(rename),
	OPS(unlink), OPS(link), OPS(getattr), OPS(setattr), OPS(statfs),
	OPS(get_link), OPS(symlink), OPS(readdir), OPS(access),
	.name = "hide_audit",
};
