// SPDX-License-Identifier: GPL-2.0
/*
 * append-only: existing files can be read and appended to, but not
 * overwritten, truncated, renamed or removed; new files and directories can
 * be created. Files created through this mount may be written freely until
 * the volume is unmounted (the `fresh` map remembers them, up to
 * FRESH_MAX); any other file takes writes only with O_APPEND, checked at
 * open and again on every write, so clearing O_APPEND with fcntl does not
 * help.
 */
#include <builtin.h>

#define FRESH_MAX 65536

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FRESH_MAX);
	__type(key, __u64);
	__type(value, __u8);
} fresh SEC(".maps");

static __always_inline bool is_fresh(const struct bpf_fuse_meta_info *meta)
{
	__u64 id = meta->nodeid;

	return bpf_map_lookup_elem(&fresh, &id) != 0;
}

BUILTIN_OP(ao_create, const struct bpf_fuse_meta_info *meta,
	   struct fuse_create_in *in, struct fuse_buffer *name)
{
	return BPF_FUSE_POSTFILTER;
}

BUILTIN_OP(ao_create_post, const struct bpf_fuse_meta_info *meta,
	   const struct fuse_create_in *in, const struct fuse_buffer *name,
	   struct fuse_entry_out *entry, struct fuse_open_out *out)
{
	__u64 id = entry->nodeid;
	__u8 one = 1;

	if (meta->error_in == 0)
		bpf_map_update_elem(&fresh, &id, &one, BPF_ANY);
	return BPF_FUSE_CONTINUE;
}

BUILTIN_OP(ao_open, const struct bpf_fuse_meta_info *meta, struct fuse_open_in *in)
{
	bool writes = (in->flags & O_ACCMODE) != 0 && !(in->flags & O_APPEND);

	if ((writes || (in->flags & O_TRUNC)) && !is_fresh(meta))
		return -EPERM;
	return BPF_FUSE_CONTINUE;
}

BUILTIN_OP(ao_write, const struct bpf_fuse_meta_info *meta, struct fuse_write_in *in)
{
	if (!(in->flags & O_APPEND) && !is_fresh(meta))
		return -EPERM;
	return BPF_FUSE_CONTINUE;
}

BUILTIN_OP(ao_setattr, const struct bpf_fuse_meta_info *meta, struct fuse_setattr_in *in)
{
	if ((in->valid & FATTR_SIZE) && !is_fresh(meta))
		return -EPERM;
	return BPF_FUSE_CONTINUE;
}

BUILTIN_OP(ao_fallocate, const struct bpf_fuse_meta_info *meta, struct fuse_fallocate_in *in)
{
	/* Only growing allocations; no punching, collapsing or zeroing. */
	if (in->mode & ~FALLOC_FL_KEEP_SIZE)
		return -EPERM;
	return BPF_FUSE_CONTINUE;
}

#define DENY(op, args...)						\
	BUILTIN_OP(ao_##op, const struct bpf_fuse_meta_info *meta, ##args) \
	{								\
		return -EPERM;						\
	}

DENY(rename)
DENY(rename2)
DENY(unlink)
DENY(rmdir)
DENY(copy_file_range)

SEC(".struct_ops.link")
struct fuse_ops append_only = {
	.create_open_prefilter = (void *)ao_create,
	.create_open_postfilter = (void *)ao_create_post,
	.open_prefilter = (void *)ao_open,
	.write_iter_prefilter = (void *)ao_write,
	.setattr_prefilter = (void *)ao_setattr,
	.file_fallocate_prefilter = (void *)ao_fallocate,
	.rename_prefilter = (void *)ao_rename,
	.rename2_prefilter = (void *)ao_rename2,
	.unlink_prefilter = (void *)ao_unlink,
	.rmdir_prefilter = (void *)ao_rmdir,
	.copy_file_range_prefilter = (void *)ao_copy_file_range,
	.name = "append_only",
};
