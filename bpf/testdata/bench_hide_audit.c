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

char LICENSE[] SEC("license") = "GPL";

#define MAX_PATTERNS 32
#define PATTERN_LEN 64
#define NAME_MAX 255
#define AUDIT_NAME_LEN 64

const volatile char hidePatterns[MAX_PATTERNS][PATTERN_LEN] = {};
const volatile __u32 hidePatternsCount = 0;

/* ---- hide: the pattern index and matcher of bpf/hide.bpf.c ---- */

enum { EXACT, PREFIX, SUFFIX };

struct hide_index {
	__u32 ready;
	__u32 all;
	__u8 len[MAX_PATTERNS];
	__u8 kind[MAX_PATTERNS];
	__u64 first[4];
	__u64 last[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hide_index);
} hide_index SEC(".maps");

static __always_inline void set_bit(__u64 *bm, __u8 c)
{
	bm[(c >> 6) & 3] |= 1ULL << (c & 63);
}

static __always_inline bool has_bit(const __u64 *bm, __u8 c)
{
	return bm[(c >> 6) & 3] & (1ULL << (c & 63));
}

static __noinline int build_index(struct hide_index *ix)
{
	__u32 i, j;

	for (i = 0; i < MAX_PATTERNS; i++) {
		const volatile char *p = hidePatterns[i];
		__u32 plen = 0;

		if (i >= hidePatternsCount)
			break;
		for (j = 0; j < PATTERN_LEN; j++) {
			if (p[j] == 0)
				break;
			plen++;
		}
		if (plen == 0)
			continue;
		if (p[0] == '*') {
			if (plen == 1) {
				ix->all = 1;
				continue;
			}
			ix->kind[i] = SUFFIX;
			ix->len[i] = plen - 1;
			if (plen - 1 < PATTERN_LEN)
				set_bit(ix->last, p[plen - 1]);
		} else {
			ix->kind[i] = p[plen - 1 & (PATTERN_LEN - 1)] == '*' ? PREFIX : EXACT;
			ix->len[i] = ix->kind[i] == PREFIX ? plen - 1 : plen;
			set_bit(ix->first, p[0]);
		}
	}
	ix->ready = 1;
	return 0;
}

static __noinline bool match(const struct hide_index *ix, const char *name, __u32 len, __u32 i)
{
	const volatile char *p;
	__u32 n, j, off = 0, base = 0;

	if (i >= MAX_PATTERNS)
		return false;
	n = ix->len[i];
	if (n == 0 || n > len || (ix->kind[i] == EXACT && n != len))
		return false;
	p = hidePatterns[i];
	if (ix->kind[i] == SUFFIX) {
		off = 1;
		base = len - n;
	}
	for (j = 0; j < PATTERN_LEN - 1; j++) {
		__u32 k = base + j;

		if (j >= n)
			break;
		if (k > NAME_MAX)
			return false;
		if (name[k] != p[off + j])
			return false;
	}
	return true;
}

static __noinline bool hidden(const char *name, __u32 len)
{
	struct hide_index *ix;
	__u32 key = 0, i;

	if (len == 0 || len > NAME_MAX)
		return false;
	ix = bpf_map_lookup_elem(&hide_index, &key);
	if (!ix)
		return false;
	if (!ix->ready)
		build_index(ix);
	if (ix->all)
		return true;
	if (!has_bit(ix->first, name[0]) && !has_bit(ix->last, name[(len - 1) & NAME_MAX]))
		return false;
	for (i = 0; i < MAX_PATTERNS; i++) {
		if (i >= hidePatternsCount)
			break;
		if (match(ix, name, len, i))
			return true;
	}
	return false;
}

static __always_inline bool name_hidden(const struct fuse_buffer *name)
{
	char buf[NAME_MAX + 1];
	struct bpf_dynptr p;
	__u32 len;

	bpf_fuse_get_ro_dynptr(name, &p);
	len = fuse_name_len(name, &p);
	if (len == 0 || len > NAME_MAX)
		return false;
	if (bpf_dynptr_read(buf, len, &p, 0, 0))
		return false;
	return hidden(buf, len);
}

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
	if (name_hidden(name)) {
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
		if (name_hidden(name)) {				\
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
	if (name_hidden(name)) {
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
		if (name_hidden(new_name)) {				\
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

struct dirent_hdr {
	__u64 ino;
	__u64 off;
	__u32 namelen;
	__u32 type;
};

#define MAX_DIRENTS 256

BPF_FUSE_OP(ha_readdir_post, const struct bpf_fuse_meta_info *meta,
	    const struct fuse_read_in *in, struct fuse_read_out *out,
	    struct fuse_buffer *dirents)
{
	char name[NAME_MAX + 1];
	struct dirent_hdr h;
	struct bpf_dynptr d;
	__u32 size, r = 0, w = 0, i;
	__u64 zero = 0;

	emit(meta, 0, (__s32)meta->error_in);
	if (!hidePatternsCount)
		return BPF_FUSE_CONTINUE;
	size = bpf_fuse_return_len(dirents);
	bpf_fuse_get_rw_dynptr(dirents, &d, size, true);
	for (i = 0; i < MAX_DIRENTS; i++) {
		__u32 nl, rec;

		if (r + sizeof(h) > size)
			break;
		if (bpf_dynptr_read(&h, sizeof(h), &d, r, 0))
			break;
		nl = h.namelen;
		if (nl == 0 || nl > NAME_MAX)
			break;
		rec = (sizeof(h) + nl + 7) & ~7U;
		if (bpf_dynptr_read(name, nl, &d, r + sizeof(h), 0))
			break;
		if (!hidden(name, nl)) {
			if (w != r) {
				bpf_dynptr_write(&d, w, &h, sizeof(h), 0);
				bpf_dynptr_write(&d, w + sizeof(h), name, nl, 0);
				if (rec - sizeof(h) - nl > 0)
					bpf_dynptr_write(&d, w + sizeof(h) + nl, &zero,
							 (rec - sizeof(h) - nl) & 7, 0);
			}
			w += rec;
		}
		r += rec;
	}
	if (w != size) {
		bpf_fuse_get_rw_dynptr(dirents, &d, w, true);
		if (w == 0)
			out->again = 1;
	}
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
