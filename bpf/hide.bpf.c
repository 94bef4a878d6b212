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

/* match reports whether name[0..len) matches pattern i. */
static __noinline bool match(const char *name, __u32 len, __u32 i)
{
	const volatile char *p;
	__u32 plen = 0, j, off = 0, n;
	int mode = 0; /* 0 exact, 1 prefix, 2 suffix */

	if (i >= MAX_PATTERNS)
		return false;
	p = hidePatterns[i];
	for (j = 0; j < PATTERN_LEN; j++) {
		if (p[j] == 0)
			break;
		plen++;
	}
	if (plen == 0)
		return false;
	if (p[0] == '*') {
		mode = 2;
		off = 1;
		n = plen - 1;
	} else if (p[plen - 1] == '*') {
		mode = 1;
		n = plen - 1;
	} else {
		n = plen;
	}
	if (n > len || (mode == 0 && n != len))
		return false;
	for (j = 0; j < PATTERN_LEN; j++) {
		__u32 k = mode == 2 ? len - n + j : j;

		if (j >= n)
			break;
		if (k > NAME_MAX || off + j >= PATTERN_LEN)
			return false;
		if (name[k] != p[off + j])
			return false;
	}
	return true;
}

static __noinline bool hidden(const char *name, __u32 len)
{
	__u32 i;

	for (i = 0; i < MAX_PATTERNS; i++) {
		if (i >= hidePatternsCount)
			break;
		if (match(name, len, i))
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
