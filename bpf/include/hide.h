/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The name matcher of the hide policy, shared by bpf/hide.bpf.c and the
 * benchmark's hide+audit policy (bpf/testdata/bench_hide_audit.c).
 *
 * A pattern is an exact name ("secrets"), a prefix ("tmp*") or a suffix
 * ("*.key"); a lone "*" matches every name. Up to HIDE_MAX_PATTERNS
 * patterns of up to 63 bytes arrive as the hidePatterns parameter.
 *
 * The first callback that runs builds an index of the patterns:
 *  - a hash set of (kind, length, bytes), one key per pattern;
 *  - per kind, a 64-bit mask of the pattern lengths that occur;
 *  - bitmaps of the first two bytes a name must start with to match an
 *    exact or prefix pattern, and of the last two it must end with to match
 *    a suffix pattern (one-byte patterns have their own 256-bit maps).
 * A name that fails both bitmaps, as most do, is decided in a few
 * instructions. One that passes is looked up in the set once for an exact
 * match and once per distinct prefix or suffix length no longer than the
 * name: at most 1 + 63 + 63 lookups, however many patterns there are.
 * Concurrent first runs build the same index, so the race is benign.
 */
#ifndef __FUSEBPF_HIDE_H
#define __FUSEBPF_HIDE_H

#include <fuse_bpf.h>

#define HIDE_MAX_PATTERNS 1024
#define HIDE_PATTERN_LEN 64
#ifndef NAME_MAX
#define NAME_MAX 255
#endif

const volatile char hidePatterns[HIDE_MAX_PATTERNS][HIDE_PATTERN_LEN] = {};
const volatile __u32 hidePatternsCount = 0;

enum { HIDE_EXACT, HIDE_PREFIX, HIDE_SUFFIX, HIDE_KINDS };

/* A pattern, or the part of a name compared with patterns of one length. */
struct hide_key {
	__u8 kind;
	__u8 len;
	__u8 pad[6];
	char b[HIDE_PATTERN_LEN];	/* len bytes, the rest zero */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HIDE_MAX_PATTERNS);
	__type(key, struct hide_key);
	__type(value, __u8);
} hide_set SEC(".maps");

struct hide_index {
	__u32 ready;
	__u32 all;			/* a lone "*" hides everything */
	__u64 lens[HIDE_KINDS];		/* bit n: a pattern of that kind has n bytes */
	__u64 first1[4];		/* one-byte exact and prefix patterns */
	__u64 last1[4];			/* one-byte suffix patterns */
	__u64 first2[1024];		/* first two bytes, exact and prefix */
	__u64 last2[1024];		/* last two bytes, suffix */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hide_index);
} hide_index SEC(".maps");

static __always_inline void hide_set_bit(__u64 *bm, __u8 c)
{
	bm[(c >> 6) & 3] |= 1ULL << (c & 63);
}

static __always_inline bool hide_has_bit(const __u64 *bm, __u8 c)
{
	return bm[(c >> 6) & 3] & (1ULL << (c & 63));
}

static __always_inline void hide_set_bit2(__u64 *bm, __u8 a, __u8 b)
{
	__u32 i = (__u32)a << 8 | b;

	bm[(i >> 6) & 1023] |= 1ULL << (i & 63);
}

static __always_inline bool hide_has_bit2(const __u64 *bm, __u8 a, __u8 b)
{
	__u32 i = (__u32)a << 8 | b;

	return bm[(i >> 6) & 1023] & (1ULL << (i & 63));
}

static __noinline int hide_build_index(struct hide_index *ix)
{
	struct hide_key k;
	__u8 one = 1;
	__u32 i, j;

	for (i = 0; i < HIDE_MAX_PATTERNS; i++) {
		const volatile char *p = hidePatterns[i];
		__u32 plen = 0, kind, n, off = 0;

		if (i >= hidePatternsCount)
			break;
		for (j = 0; j < HIDE_PATTERN_LEN - 1; j++) {
			if (p[j] == 0)
				break;
			plen++;
		}
		if (plen == 0)
			continue;
		if (p[0] == '*') {
			kind = HIDE_SUFFIX;
			off = 1;
			n = plen - 1;
		} else if (p[(plen - 1) & (HIDE_PATTERN_LEN - 1)] == '*') {
			kind = HIDE_PREFIX;
			n = plen - 1;
		} else {
			kind = HIDE_EXACT;
			n = plen;
		}
		if (n == 0) {
			ix->all = 1;
			continue;
		}
		__builtin_memset(&k, 0, sizeof(k));
		k.kind = kind;
		k.len = n;
		for (j = 0; j < HIDE_PATTERN_LEN - 1; j++) {
			if (j >= n)
				break;
			k.b[j] = p[(off + j) & (HIDE_PATTERN_LEN - 1)];
		}
		bpf_map_update_elem(&hide_set, &k, &one, BPF_ANY);
		ix->lens[kind] |= 1ULL << (n & 63);
		if (kind == HIDE_SUFFIX) {
			if (n == 1)
				hide_set_bit(ix->last1, k.b[0]);
			else
				hide_set_bit2(ix->last2, k.b[(n - 2) & 63], k.b[(n - 1) & 63]);
		} else {
			if (n == 1)
				hide_set_bit(ix->first1, k.b[0]);
			else
				hide_set_bit2(ix->first2, k.b[0], k.b[1]);
		}
	}
	ix->ready = 1;
	return 0;
}

static __always_inline struct hide_index *hide_get_index(void)
{
	struct hide_index *ix;
	__u32 key = 0;

	ix = bpf_map_lookup_elem(&hide_index, &key);
	if (ix && !ix->ready)
		hide_build_index(ix);
	return ix;
}

/*
 * hide_head and hide_tail report whether a name of len bytes that starts
 * with a, b (ends with y, z) may match an exact or prefix (a suffix)
 * pattern. b and y are only looked at when len >= 2.
 */
static __always_inline bool hide_head(const struct hide_index *ix, __u32 len, __u8 a, __u8 b)
{
	return hide_has_bit(ix->first1, a) || (len >= 2 && hide_has_bit2(ix->first2, a, b));
}

static __always_inline bool hide_tail(const struct hide_index *ix, __u32 len, __u8 y, __u8 z)
{
	return hide_has_bit(ix->last1, z) || (len >= 2 && hide_has_bit2(ix->last2, y, z));
}

/* hide_bit_index returns the position of the one set bit of b. */
static __always_inline __u32 hide_bit_index(__u64 b)
{
	__u32 n = 0;

	if (b >> 32) {
		n += 32;
		b >>= 32;
	}
	if (b >> 16) {
		n += 16;
		b >>= 16;
	}
	if (b >> 8) {
		n += 8;
		b >>= 8;
	}
	if (b >> 4) {
		n += 4;
		b >>= 4;
	}
	if (b >> 2) {
		n += 2;
		b >>= 2;
	}
	return n + (b >> 1);
}

/* hide_probe reports whether the set holds kind/n with src's n bytes at off. */
static __always_inline bool hide_probe(struct hide_key *k, const struct bpf_dynptr *src,
				       __u32 off, __u32 kind, __u32 n)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->kind = kind;
	k->len = n;
	if (bpf_dynptr_read(k->b, n & (HIDE_PATTERN_LEN - 1), src, off, 0))
		return false;
	return bpf_map_lookup_elem(&hide_set, k) != NULL;
}

/*
 * hide_probe_lens probes the set for each length in lens: the name's first
 * n bytes (prefix) or its last n bytes (suffix), the name being the len
 * bytes of src at base.
 */
static __always_inline bool hide_probe_lens(struct hide_key *k, const struct bpf_dynptr *src,
					    __u32 base, __u32 len, __u32 kind, __u64 lens)
{
	__u32 i, n;

	if (len < HIDE_PATTERN_LEN - 1)
		lens &= (2ULL << len) - 1;	/* lengths up to len */
	for (i = 0; i < HIDE_PATTERN_LEN && lens; i++) {
		__u64 low = lens & -lens;

		lens ^= low;
		n = hide_bit_index(low);
		if (hide_probe(k, src, kind == HIDE_SUFFIX ? base + len - n : base, kind, n))
			return true;
	}
	return false;
}

/*
 * hide_name reports whether the name of len bytes at src[base] is hidden.
 * ix is the index, from hide_get_index.
 */
static __noinline bool hide_name(const struct hide_index *ix, const struct bpf_dynptr *src,
				 __u32 base, __u32 len)
{
	__u8 ab[2] = {}, yz[2] = {};
	struct hide_key k;

	if (!ix || len == 0 || len > NAME_MAX)
		return false;
	if (ix->all)
		return true;
	if (len >= 2) {
		if (bpf_dynptr_read(ab, 2, src, base, 0) ||
		    bpf_dynptr_read(yz, 2, src, base + len - 2, 0))
			return false;
	} else {
		if (bpf_dynptr_read(ab, 1, src, base, 0))
			return false;
		yz[1] = ab[0];
	}
	if (hide_head(ix, len, ab[0], ab[1])) {
		if (len < HIDE_PATTERN_LEN && (ix->lens[HIDE_EXACT] >> len & 1) &&
		    hide_probe(&k, src, base, HIDE_EXACT, len))
			return true;
		if (hide_probe_lens(&k, src, base, len, HIDE_PREFIX, ix->lens[HIDE_PREFIX]))
			return true;
	}
	if (hide_tail(ix, len, yz[0], yz[1]) &&
	    hide_probe_lens(&k, src, base, len, HIDE_SUFFIX, ix->lens[HIDE_SUFFIX]))
		return true;
	return false;
}

/* hide_candidate reports whether a name may be hidden at all: the bitmaps. */
static __always_inline bool hide_candidate(const struct hide_index *ix, __u32 len,
					   __u8 a, __u8 b, __u8 y, __u8 z)
{
	return ix->all || hide_head(ix, len, a, b) || hide_tail(ix, len, y, z);
}

/* hide_fuse_name reports whether a name argument is hidden. */
static __always_inline bool hide_fuse_name(const struct fuse_buffer *name)
{
	struct bpf_dynptr p;

	bpf_fuse_get_ro_dynptr(name, &p);
	return hide_name(hide_get_index(), &p, 0, fuse_name_len(name, &p));
}

struct hide_dirent {
	__u64 ino;
	__u64 off;
	__u32 namelen;
	__u32 type;
};

#define HIDE_MAX_DIRENTS 256

/*
 * hide_dirents compacts a readdir reply in place, dropping hidden names,
 * then shrinks the buffer to what is left. If nothing is left, it asks the
 * kernel to come back for more (again = 1) rather than end the listing.
 */
static __always_inline void hide_dirents(struct fuse_read_out *out, struct fuse_buffer *dirents)
{
	char name[NAME_MAX + 1];
	struct hide_index *ix;
	struct hide_dirent h;
	struct bpf_dynptr d;
	__u32 size, r = 0, w = 0, i;
	__u64 zero = 0;

	ix = hide_get_index();
	if (!ix)
		return;
	size = bpf_fuse_return_len(dirents);
	bpf_fuse_get_rw_dynptr(dirents, &d, size, true);
	for (i = 0; i < HIDE_MAX_DIRENTS; i++) {
		__u8 ab[2] = {}, yz[2] = {};
		__u32 nl, rec, at;

		if (r + sizeof(h) > size)
			break;
		if (bpf_dynptr_read(&h, sizeof(h), &d, r, 0))
			break;
		nl = h.namelen;
		if (nl == 0 || nl > NAME_MAX)
			break;
		rec = (sizeof(h) + nl + 7) & ~7U;
		at = r + sizeof(h);
		/* Most names are decided by their first and last two bytes. */
		if (nl >= 2) {
			bpf_dynptr_read(ab, 2, &d, at, 0);
			bpf_dynptr_read(yz, 2, &d, at + nl - 2, 0);
		} else {
			bpf_dynptr_read(ab, 1, &d, at, 0);
			yz[1] = ab[0];
		}
		if (!hide_candidate(ix, nl, ab[0], ab[1], yz[0], yz[1]) ||
		    !hide_name(ix, &d, at, nl)) {
			if (w != r) {
				if (bpf_dynptr_read(name, nl, &d, at, 0))
					break;
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
}

#endif
