/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The event of the audit policy, shared by bpf/audit.bpf.c and the
 * benchmark's hide+audit policy (bpf/testdata/bench_hide_audit.c): one
 * struct audit_event per operation in the ring buffer `events`, decoded by
 * the node plugin (pkg/policy.DecodeAuditEvent).
 *
 * AUDIT_POST, AUDIT_POST_N0 and AUDIT_POST_N1 define a callback pair
 * au_<op>_pre / au_<op>_post: the prefilter asks for the postfilter, which
 * records the operation with its result. AUDIT_OPS(op) fills the op's two
 * members of a struct fuse_ops; AUDIT_ALL_OPS those of every operation.
 */
#ifndef __FUSEBPF_AUDIT_H
#define __FUSEBPF_AUDIT_H

#include <fuse_bpf.h>

#define AUDIT_NAME_LEN 64

/* One event; the node plugin decodes this layout (pkg/policy). */
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

/* Make the event type visible in the object's BTF. */
struct audit_event audit_event_btf __attribute__((unused));

/* audit_emit records one operation and its result (0 or -errno). */
static __always_inline void audit_emit(const struct bpf_fuse_meta_info *meta,
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

/* Every prefilter asks for the postfilter, which sees the result. */
#define AUDIT_PRE(op)							\
	BPF_FUSE_OP(au_##op##_pre, const struct bpf_fuse_meta_info *meta) \
	{								\
		return BPF_FUSE_POSTFILTER;				\
	}

/* A postfilter with no name argument. */
#define AUDIT_POST(op)							\
	AUDIT_PRE(op)							\
	BPF_FUSE_OP(au_##op##_post, const struct bpf_fuse_meta_info *meta) \
	{								\
		audit_emit(meta, 0, (__s32)meta->error_in);		\
		return BPF_FUSE_CONTINUE;				\
	}

/* A postfilter whose first argument is the name. */
#define AUDIT_POST_N0(op, rest...)					\
	AUDIT_PRE(op)							\
	BPF_FUSE_OP(au_##op##_post, const struct bpf_fuse_meta_info *meta, \
		    const struct fuse_buffer *name, ##rest)		\
	{								\
		audit_emit(meta, name, (__s32)meta->error_in);		\
		return BPF_FUSE_CONTINUE;				\
	}

/* A postfilter whose second argument is the name. */
#define AUDIT_POST_N1(op, first, rest...)				\
	AUDIT_PRE(op)							\
	BPF_FUSE_OP(au_##op##_post, const struct bpf_fuse_meta_info *meta, \
		    first, const struct fuse_buffer *name, ##rest)	\
	{								\
		audit_emit(meta, name, (__s32)meta->error_in);		\
		return BPF_FUSE_CONTINUE;				\
	}

#define AUDIT_OPS(op) .op##_prefilter = (void *)au_##op##_pre, .op##_postfilter = (void *)au_##op##_post

/* The members of every operation audit records: the au_* pairs of all of them. */
#define AUDIT_ALL_OPS							\
	AUDIT_OPS(open), AUDIT_OPS(opendir), AUDIT_OPS(create_open),	\
	AUDIT_OPS(release), AUDIT_OPS(releasedir), AUDIT_OPS(flush),	\
	AUDIT_OPS(lseek), AUDIT_OPS(copy_file_range), AUDIT_OPS(fsync),	\
	AUDIT_OPS(dir_fsync), AUDIT_OPS(getxattr), AUDIT_OPS(listxattr), \
	AUDIT_OPS(setxattr), AUDIT_OPS(removexattr),			\
	AUDIT_OPS(file_fallocate), AUDIT_OPS(lookup), AUDIT_OPS(mknod),	\
	AUDIT_OPS(mkdir), AUDIT_OPS(rmdir), AUDIT_OPS(rename2),		\
	AUDIT_OPS(rename), AUDIT_OPS(unlink), AUDIT_OPS(link),		\
	AUDIT_OPS(getattr), AUDIT_OPS(setattr), AUDIT_OPS(statfs),	\
	AUDIT_OPS(get_link), AUDIT_OPS(symlink), AUDIT_OPS(readdir),	\
	AUDIT_OPS(access)

#endif
