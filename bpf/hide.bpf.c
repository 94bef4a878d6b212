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
 * the first two bytes a matching name must start with (exact and prefix
 * patterns) or the last two it must end with (suffix patterns). Most names
 * fail every bitmap test and are decided in a few instructions, whatever
 * the number of patterns.
 * Concurrent first runs build the same index, so the race is benign.
 */
enum { EXACT, PREFIX, SUFFIX };

struct hide_index {
	__u32 ready;
	__u32 all; /* a lone "*" hides everything */
	__u8 len[MAX_PATTERNS];	/* without the '*' */
	__u8 kind[MAX_PATTERNS];
	/* One-byte patterns: their byte. Longer ones: their first (exact,
	 * prefix) or last (suffix) two bytes, as a 16-bit index. */
	__u64 first1[4];
	__u64 last1[4];
	__u64 first2[1024];
	__u64 last2[1024];
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

static __always_inline void set_bit2(__u64 *bm, __u8 a, __u8 b)
{
	__u32 i = (__u32)a << 8 | b;

	bm[(i >> 6) & 1023] |= 1ULL << (i & 63);
}

static __always_inline bool has_bit2(const __u64 *bm, __u8 a, __u8 b)
{
	__u32 i = (__u32)a << 8 | b;

	return bm[(i >> 6) & 1023] & (1ULL << (i & 63));
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
			if (plen == 2)
				set_bit(ix->last1, p[1]);
			else
				set_bit2(ix->last2, p[(plen - 2) & (PATTERN_LEN - 1)],
					 p[(plen - 1) & (PATTERN_LEN - 1)]);
		} else {
			ix->kind[i] = p[(plen - 1) & (PATTERN_LEN - 1)] == '*' ? PREFIX : EXACT;
			ix->len[i] = ix->kind[i] == PREFIX ? plen - 1 : plen;
			if (ix->len[i] == 0) {
				ix->all = 1;	/* a lone "*" */
				continue;
			}
			if (ix->len[i] == 1)
				set_bit(ix->first1, p[0]);
			else
				set_bit2(ix->first2, p[0], p[1]);
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

static __always_inline struct hide_index *get_index(void)
{
	struct hide_index *ix;
	__u32 key = 0;

	ix = bpf_map_lookup_elem(&hide_index, &key);
	if (ix && !ix->ready)
		build_index(ix);
	return ix;
}

/*
 * candidate reports whether a name of len bytes starting with a, b and
 * ending with y, z can match any pattern (b and y are only looked at when
 * len >= 2).
 */
static __always_inline bool candidate(const struct hide_index *ix, __u32 len,
				      __u8 a, __u8 b, __u8 y, __u8 z)
{
	if (ix->all || has_bit(ix->first1, a) || has_bit(ix->last1, z))
		return true;
	return len >= 2 && (has_bit2(ix->first2, a, b) || has_bit2(ix->last2, y, z));
}

static __noinline bool hidden(const char *name, __u32 len)
{
	struct hide_index *ix;
	__u32 i;

	if (len == 0 || len > NAME_MAX)
		return false;
	ix = get_index();
	if (!ix)
		return false;
	if (ix->all)
		return true;
	if (!candidate(ix, len, name[0], name[1 & NAME_MAX], name[(len - 2) & NAME_MAX], name[(len - 1) & NAME_MAX]))
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
	struct hide_index *ix;
	struct dirent_hdr h;
	struct bpf_dynptr d;
	__u32 size, r = 0, w = 0, i;
	__u64 zero = 0;

	ix = get_index();
	if (!ix)
		return BPF_FUSE_CONTINUE;
	size = bpf_fuse_return_len(dirents);
	bpf_fuse_get_rw_dynptr(dirents, &d, size, true);
	for (i = 0; i < MAX_DIRENTS; i++) {
		__u8 ab[2] = {}, yz[2] = {};
		bool hide = false, cand;
		__u32 nl, rec;

		if (r + sizeof(h) > size)
			break;
		if (bpf_dynptr_read(&h, sizeof(h), &d, r, 0))
			break;
		nl = h.namelen;
		if (nl == 0 || nl > NAME_MAX)
			break;
		rec = (sizeof(h) + nl + 7) & ~7U;
		/* Most names are decided by their first and last two bytes. */
		if (nl >= 2) {
			bpf_dynptr_read(ab, 2, &d, r + sizeof(h), 0);
			bpf_dynptr_read(yz, 2, &d, r + sizeof(h) + nl - 2, 0);
		} else {
			bpf_dynptr_read(ab, 1, &d, r + sizeof(h), 0);
			yz[1] = ab[0];
		}
		cand = candidate(ix, nl, ab[0], ab[1], yz[0], yz[1]);
		if (cand || w != r) {
			if (bpf_dynptr_read(name, nl, &d, r + sizeof(h), 0))
				break;
			hide = cand && hidden(name, nl);
		}
		if (!hide) {
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
