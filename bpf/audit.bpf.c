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

static __always_inline void emit(const struct bpf_fuse_meta_info *meta,
				 const struct fuse_buffer *name)
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
	e->result = (__s32)meta->error_in;
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
#define PRE(op)								\
	BUILTIN_OP(au_##op##_pre, const struct bpf_fuse_meta_info *meta) \
	{								\
		return BPF_FUSE_POSTFILTER;				\
	}

/* A postfilter with no name argument. */
#define POST(op)							\
	PRE(op)								\
	BUILTIN_OP(au_##op##_post, const struct bpf_fuse_meta_info *meta) \
	{								\
		emit(meta, 0);						\
		return BPF_FUSE_CONTINUE;				\
	}

/* A postfilter whose first argument is the name. */
#define POST_N0(op, rest...)						\
	PRE(op)								\
	BUILTIN_OP(au_##op##_post, const struct bpf_fuse_meta_info *meta, \
		   const struct fuse_buffer *name, ##rest)		\
	{								\
		emit(meta, name);					\
		return BPF_FUSE_CONTINUE;				\
	}

/* A postfilter whose second argument is the name. */
#define POST_N1(op, first, rest...)					\
	PRE(op)								\
	BUILTIN_OP(au_##op##_post, const struct bpf_fuse_meta_info *meta, \
		   first, const struct fuse_buffer *name, ##rest)	\
	{								\
		emit(meta, name);					\
		return BPF_FUSE_CONTINUE;				\
	}

POST(open) POST(opendir) POST(release) POST(releasedir) POST(flush)
POST(lseek) POST(copy_file_range) POST(fsync) POST(dir_fsync)
POST(listxattr) POST(file_fallocate)
POST(getattr) POST(setattr) POST(statfs) POST(readdir) POST(access)
POST_N1(create_open, const struct fuse_create_in *in)
POST_N1(getxattr, const struct fuse_getxattr_in *in)
POST_N1(setxattr, const struct fuse_setxattr_in *in)
POST_N0(removexattr)
POST_N0(lookup)
POST_N1(mknod, const struct fuse_mknod_in *in)
POST_N1(mkdir, const struct fuse_mkdir_in *in)
POST_N0(rmdir)
POST_N1(rename2, const struct fuse_rename2_in *in)
POST_N1(rename, const struct fuse_rename_in *in)
POST_N0(unlink)
POST_N1(link, const struct fuse_link_in *in)
POST_N0(get_link)
POST_N0(symlink)

#define OPS(op) .op##_prefilter = (void *)au_##op##_pre, .op##_postfilter = (void *)au_##op##_post

SEC(".struct_ops.link")
struct fuse_ops audit = {
	OPS(open), OPS(opendir), OPS(create_open), OPS(release), OPS(releasedir),
	OPS(flush), OPS(lseek), OPS(copy_file_range), OPS(fsync), OPS(dir_fsync),
	OPS(getxattr), OPS(listxattr), OPS(setxattr), OPS(removexattr),
	OPS(file_fallocate), OPS(lookup),
	OPS(mknod), OPS(mkdir), OPS(rmdir), OPS(rename2), OPS(rename),
	OPS(unlink), OPS(link), OPS(getattr), OPS(setattr), OPS(statfs),
	OPS(get_link), OPS(symlink), OPS(readdir), OPS(access),
	.name = "audit",
};
