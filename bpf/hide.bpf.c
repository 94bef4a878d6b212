// SPDX-License-Identifier: GPL-2.0
/*
 * hide: names matching hidePatterns do not exist. A pattern is an exact
 * name ("secrets"), a prefix ("tmp*") or a suffix ("*.key"). Lookup of a
 * hidden name fails with ENOENT, readdir never lists one, and creating or
 * renaming onto one is refused with EACCES (it would vanish on arrival).
 */
#include <builtin.h>

#define MAX_PATTERNS 32
#define PATTERN_LEN 64
#define NAME_MAX 255

const volatile char hidePatterns[MAX_PATTERNS][PATTERN_LEN] = {};
const volatile __u32 hidePatternsCount = 0;

/*
 * The patterns are parameters, so the first callback that runs builds an
 * index of them in a map: each pattern's kind and length, and bitmaps of
 * the bytes a matching name must start with (exact and prefix patterns)
 * or end with (suffix patterns). Most names fail both bitmap tests and
 * are decided in a few instructions, whatever the number of patterns.
 * Concurrent first runs build the same index, so the race is benign.
 */
enum { EXACT, PREFIX, SUFFIX };

struct hide_index {
	__u32 ready;
	__u32 all; /* a lone "*" hides everything */
	__u8 len[MAX_PATTERNS];	/* without the '*' */
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

/* match reports whether name[0..len) matches pattern i. */
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

/* name_hidden reads a name buffer and checks it. */
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

BUILTIN_OP(hide_lookup, const struct bpf_fuse_meta_info *meta, struct fuse_buffer *name)
{
	return name_hidden(name) ? -ENOENT : BPF_FUSE_CONTINUE;
}

#define REFUSE1(op, in)							\
	BUILTIN_OP(hide_##op, const struct bpf_fuse_meta_info *meta,	\
		   in, struct fuse_buffer *name)			\
	{								\
		return name_hidden(name) ? -EACCES : BPF_FUSE_CONTINUE;	\
	}

REFUSE1(create_open, struct fuse_create_in *in)
REFUSE1(mknod, struct fuse_mknod_in *in)
REFUSE1(mkdir, struct fuse_mkdir_in *in)
REFUSE1(link, struct fuse_link_in *in)

BUILTIN_OP(hide_symlink, const struct bpf_fuse_meta_info *meta,
	   struct fuse_buffer *name, struct fuse_buffer *path)
{
	return name_hidden(name) ? -EACCES : BPF_FUSE_CONTINUE;
}

BUILTIN_OP(hide_rename, const struct bpf_fuse_meta_info *meta, struct fuse_rename_in *in,
	   struct fuse_buffer *old_name, struct fuse_buffer *new_name)
{
	return name_hidden(new_name) ? -EACCES : BPF_FUSE_CONTINUE;
}

BUILTIN_OP(hide_rename2, const struct bpf_fuse_meta_info *meta, struct fuse_rename2_in *in,
	   struct fuse_buffer *old_name, struct fuse_buffer *new_name)
{
	return name_hidden(new_name) ? -EACCES : BPF_FUSE_CONTINUE;
}

BUILTIN_OP(hide_readdir_pre, const struct bpf_fuse_meta_info *meta, struct fuse_read_in *in)
{
	return hidePatternsCount ? BPF_FUSE_POSTFILTER : BPF_FUSE_CONTINUE;
}

struct dirent_hdr {
	__u64 ino;
	__u64 off;
	__u32 namelen;
	__u32 type;
};

#define MAX_DIRENTS 256

/*
 * The readdir postfilter compacts the dirents in place, dropping hidden
 * names, then shrinks the buffer to what is left. If nothing is left, it
 * asks the kernel to come back for more (again = 1) rather than end the
 * listing.
 */
BUILTIN_OP(hide_readdir_post, const struct bpf_fuse_meta_info *meta,
	   const struct fuse_read_in *in, struct fuse_read_out *out,
	   struct fuse_buffer *dirents)
{
	char name[NAME_MAX + 1];
	struct dirent_hdr h;
	struct bpf_dynptr d;
	__u32 size, r = 0, w = 0, i;
	__u64 zero = 0;

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

SEC(".struct_ops.link")
struct fuse_ops hide = {
	.lookup_prefilter = (void *)hide_lookup,
	.create_open_prefilter = (void *)hide_create_open,
	.mknod_prefilter = (void *)hide_mknod,
	.mkdir_prefilter = (void *)hide_mkdir,
	.link_prefilter = (void *)hide_link,
	.symlink_prefilter = (void *)hide_symlink,
	.rename_prefilter = (void *)hide_rename,
	.rename2_prefilter = (void *)hide_rename2,
	.readdir_prefilter = (void *)hide_readdir_pre,
	.readdir_postfilter = (void *)hide_readdir_post,
	.name = "hide",
};
