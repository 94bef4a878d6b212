// SPDX-License-Identifier: GPL-2.0
/*
 * hide: names matching hidePatterns do not exist. A pattern is an exact
 * name ("secrets"), a prefix ("tmp*") or a suffix ("*.key"), up to 1024 of
 * them. Lookup of a hidden name fails with ENOENT, readdir never lists one,
 * and creating or renaming onto one is refused with EACCES (it would vanish
 * on arrival). The matcher is bpf/include/hide.h.
 */
#include <builtin.h>
#include <hide.h>

BUILTIN_OP(hide_lookup, const struct bpf_fuse_meta_info *meta, struct fuse_buffer *name)
{
	return hide_fuse_name(name) ? -ENOENT : BPF_FUSE_CONTINUE;
}

#define REFUSE1(op, in)							\
	BUILTIN_OP(hide_##op, const struct bpf_fuse_meta_info *meta,	\
		   in, struct fuse_buffer *name)			\
	{								\
		return hide_fuse_name(name) ? -EACCES : BPF_FUSE_CONTINUE; \
	}

REFUSE1(create_open, struct fuse_create_in *in)
REFUSE1(mknod, struct fuse_mknod_in *in)
REFUSE1(mkdir, struct fuse_mkdir_in *in)
REFUSE1(link, struct fuse_link_in *in)

BUILTIN_OP(hide_symlink, const struct bpf_fuse_meta_info *meta,
	   struct fuse_buffer *name, struct fuse_buffer *path)
{
	return hide_fuse_name(name) ? -EACCES : BPF_FUSE_CONTINUE;
}

BUILTIN_OP(hide_rename, const struct bpf_fuse_meta_info *meta, struct fuse_rename_in *in,
	   struct fuse_buffer *old_name, struct fuse_buffer *new_name)
{
	return hide_fuse_name(new_name) ? -EACCES : BPF_FUSE_CONTINUE;
}

BUILTIN_OP(hide_rename2, const struct bpf_fuse_meta_info *meta, struct fuse_rename2_in *in,
	   struct fuse_buffer *old_name, struct fuse_buffer *new_name)
{
	return hide_fuse_name(new_name) ? -EACCES : BPF_FUSE_CONTINUE;
}

BUILTIN_OP(hide_readdir_pre, const struct bpf_fuse_meta_info *meta, struct fuse_read_in *in)
{
	return hidePatternsCount ? BPF_FUSE_POSTFILTER : BPF_FUSE_CONTINUE;
}

BUILTIN_OP(hide_readdir_post, const struct bpf_fuse_meta_info *meta,
	   const struct fuse_read_in *in, struct fuse_read_out *out,
	   struct fuse_buffer *dirents)
{
	hide_dirents(out, dirents);
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
