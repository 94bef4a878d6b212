/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * fuse_bpf.h - the FUSE-BPF "Generation A" ABI (RFC v3/v4, struct_ops
 * fuse_ops) as seen by a policy, for writing policies without vmlinux.h.
 *
 * Source of truth: FUSE-BPF-ABI.md §1 of the project design. Items marked
 * [I] there are inferred and [?] unknown; they are marked the same way here.
 * Every other layout and value is confirmed in the RFC v3 series or mainline
 * uapi <linux/fuse.h>.
 *
 * All types carry preserve_access_index, so field accesses are CO-RE
 * relocated against the kernel (or the userspace tier's) BTF at load time.
 *
 * A policy is one object with exactly one instance of struct fuse_ops in
 * SEC(".struct_ops.link") and license "GPL":
 *
 *	#include <fuse_bpf.h>
 *	char LICENSE[] SEC("license") = "GPL";
 *
 *	BPF_FUSE_OP(hide_lookup, const struct bpf_fuse_meta_info *meta,
 *		    struct fuse_buffer *name)
 *	{
 *		if (FUSE_NAME_EQ(name, "secret"))
 *			return -ENOENT;
 *		return BPF_FUSE_CONTINUE;
 *	}
 *
 *	SEC(".struct_ops.link") struct fuse_ops hide = {
 *		.lookup_prefilter = (void *)hide_lookup,
 *		.name = "hide",
 *	};
 *
 * The loader overwrites .name with a per-volume instance name.
 *
 * Do not include <linux/fuse.h> as well: this header defines the FUSE uapi
 * structs itself (with CO-RE attributes) and claims that header's guard.
 */
#ifndef __FUSE_BPF_H
#define __FUSE_BPF_H

#ifdef _LINUX_FUSE_H
#error "fuse_bpf.h defines the FUSE uapi types itself; do not include <linux/fuse.h>"
#endif
#define _LINUX_FUSE_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include <stdbool.h>

/* --------------------------------------------------------------------- */
/* Constants                                                              */
/* --------------------------------------------------------------------- */

/*
 * Return codes of a callback (§1.7, include/uapi/linux/bpf.h in v3 27/37).
 * A negative errno fails the operation with that error.
 */
#define BPF_FUSE_CONTINUE		0 /* run the backing op; no postfilter */
#define BPF_FUSE_USER			1 /* send the ordinary request to the daemon */
#define BPF_FUSE_USER_PREFILTER		2 /* daemon rewrites inputs, then backing op */
#define BPF_FUSE_POSTFILTER		3 /* backing op, then the BPF postfilter */
#define BPF_FUSE_USER_POSTFILTER	4 /* backing op, then the daemon's postfilter */
/*
 * v4 only: "default filter op". Exact semantics [?]; not in v3 kernels,
 * so a policy that returns it is v4-only.
 */
#define BPF_FUSE_CALL_DEFAULT		5

/* Bits ORed into fuse_in_header.opcode and bpf_fuse_meta_info.opcode. */
#define FUSE_OPCODE_FILTER	0x0ffff
#define FUSE_PREFILTER		0x10000
#define FUSE_POSTFILTER		0x20000

/* fuse_buffer.flags (§1.6). The kernel sets the first three. */
#define BPF_FUSE_IMMUTABLE	(1 << 0)
#define BPF_FUSE_VARIABLE_SIZE	(1 << 1)
#define BPF_FUSE_MUST_ALLOCATE	(1 << 2)
/* Set by the kfuncs. */
#define BPF_FUSE_MODIFIED	(1 << 3)
#define BPF_FUSE_ALLOCATED	(1 << 4)

/*
 * Size of fuse_ops.name including the NUL, and the longest root_bpf=
 * accepted by the mount. Instance names must be at most 14 characters
 * (BPF_FUSE_NAME_MAX - 1) of [A-Za-z0-9_.] [I]: the field is 15 bytes
 * and bpf_obj_name_cpy() needs the NUL inside it.
 */
#define BPF_FUSE_NAME_MAX	15

/* Lookup reply entries (§1.4). */
#define FUSE_BPF_MAX_ENTRIES	2

enum fuse_bpf_type {
	FUSE_ENTRY_BACKING		= 1,
	FUSE_ENTRY_BPF			= 2,
	FUSE_ENTRY_REMOVE_BACKING	= 3,
	FUSE_ENTRY_REMOVE_BPF		= 4,
};

/* Request extension carrying the backing op's result to a daemon postfilter. */
#define FUSE_ERROR_IN		33

/* FUSE opcodes (mainline uapi). */
enum fuse_opcode {
	FUSE_LOOKUP		= 1,
	FUSE_FORGET		= 2,
	FUSE_GETATTR		= 3,
	FUSE_SETATTR		= 4,
	FUSE_READLINK		= 5,
	FUSE_SYMLINK		= 6,
	FUSE_MKNOD		= 8,
	FUSE_MKDIR		= 9,
	FUSE_UNLINK		= 10,
	FUSE_RMDIR		= 11,
	FUSE_RENAME		= 12,
	FUSE_LINK		= 13,
	FUSE_OPEN		= 14,
	FUSE_READ		= 15,
	FUSE_WRITE		= 16,
	FUSE_STATFS		= 17,
	FUSE_RELEASE		= 18,
	FUSE_FSYNC		= 20,
	FUSE_SETXATTR		= 21,
	FUSE_GETXATTR		= 22,
	FUSE_LISTXATTR		= 23,
	FUSE_REMOVEXATTR	= 24,
	FUSE_FLUSH		= 25,
	FUSE_INIT		= 26,
	FUSE_OPENDIR		= 27,
	FUSE_READDIR		= 28,
	FUSE_RELEASEDIR		= 29,
	FUSE_FSYNCDIR		= 30,
	FUSE_GETLK		= 31,
	FUSE_SETLK		= 32,
	FUSE_SETLKW		= 33,
	FUSE_ACCESS		= 34,
	FUSE_CREATE		= 35,
	FUSE_INTERRUPT		= 36,
	FUSE_BMAP		= 37,
	FUSE_DESTROY		= 38,
	FUSE_IOCTL		= 39,
	FUSE_POLL		= 40,
	FUSE_NOTIFY_REPLY	= 41,
	FUSE_BATCH_FORGET	= 42,
	FUSE_FALLOCATE		= 43,
	FUSE_READDIRPLUS	= 44,
	FUSE_RENAME2		= 45,
	FUSE_LSEEK		= 46,
	FUSE_COPY_FILE_RANGE	= 47,
	FUSE_SETUPMAPPING	= 48,
	FUSE_REMOVEMAPPING	= 49,
	FUSE_SYNCFS		= 50,
	FUSE_TMPFILE		= 51,
	FUSE_STATX		= 52,
};

/* --------------------------------------------------------------------- */
/* Types                                                                  */
/* --------------------------------------------------------------------- */

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

/*
 * Per-call information, the first argument of every callback (§1.6).
 * Field order is [C]. error_out comes from "WIP: add error_out" (v3 34/37)
 * and is unused by the kernel; a kernel without that patch has a 16-byte
 * struct, so do not read it unless the target has it [I].
 */
struct bpf_fuse_meta_info {
	__u64 nodeid;	/* inode's FUSE nodeid (parent dir for entry ops) */
	__u32 opcode;	/* base opcode | FUSE_PREFILTER or | FUSE_POSTFILTER */
	__u32 error_in;	/* postfilter: backing result, e.g. (__u32)-ENOENT; 0 = ok */
	__u32 error_out;
};

/*
 * A variable-size argument: a name, an xattr value, readdir's dirents.
 * Opaque to BPF (the verifier refuses direct access); reach its bytes with
 * bpf_fuse_get_ro_dynptr()/bpf_fuse_get_rw_dynptr().
 */
struct fuse_buffer {
	void *data;
	unsigned int size;
	unsigned int alloc_size;
	unsigned int max_size;
	int flags;
};

/* Mainline uapi <linux/fuse.h> layouts, 7.40+. */

struct fuse_attr {
	__u64 ino;
	__u64 size;
	__u64 blocks;
	__u64 atime;
	__u64 mtime;
	__u64 ctime;
	__u32 atimensec;
	__u32 mtimensec;
	__u32 ctimensec;
	__u32 mode;
	__u32 nlink;
	__u32 uid;
	__u32 gid;
	__u32 rdev;
	__u32 blksize;
	__u32 flags;
};

struct fuse_kstatfs {
	__u64 blocks;
	__u64 bfree;
	__u64 bavail;
	__u64 files;
	__u64 ffree;
	__u32 bsize;
	__u32 namelen;
	__u32 frsize;
	__u32 padding;
	__u32 spare[6];
};

struct fuse_entry_out {
	__u64 nodeid;
	__u64 generation;
	__u64 entry_valid;
	__u64 attr_valid;
	__u32 entry_valid_nsec;
	__u32 attr_valid_nsec;
	struct fuse_attr attr;
};

struct fuse_getattr_in {
	__u32 getattr_flags;
	__u32 dummy;
	__u64 fh;
};

struct fuse_attr_out {
	__u64 attr_valid;
	__u32 attr_valid_nsec;
	__u32 dummy;
	struct fuse_attr attr;
};

struct fuse_mknod_in {
	__u32 mode;
	__u32 rdev;
	__u32 umask;
	__u32 padding;
};

struct fuse_mkdir_in {
	__u32 mode;
	__u32 umask;
};

struct fuse_rename_in {
	__u64 newdir;
};

struct fuse_rename2_in {
	__u64 newdir;
	__u32 flags;
	__u32 padding;
};

struct fuse_link_in {
	__u64 oldnodeid;
};

struct fuse_setattr_in {
	__u32 valid;
	__u32 padding;
	__u64 fh;
	__u64 size;
	__u64 lock_owner;
	__u64 atime;
	__u64 mtime;
	__u64 ctime;
	__u32 atimensec;
	__u32 mtimensec;
	__u32 ctimensec;
	__u32 mode;
	__u32 unused4;
	__u32 uid;
	__u32 gid;
	__u32 unused5;
};

struct fuse_open_in {
	__u32 flags;
	__u32 open_flags;
};

struct fuse_create_in {
	__u32 flags;
	__u32 mode;
	__u32 umask;
	__u32 open_flags;
};

/*
 * backing_id is the 6.9 name of what older kernels (and v3, based on 6.3)
 * call padding [I]; CO-RE fails a policy that reads it on such a kernel.
 */
struct fuse_open_out {
	__u64 fh;
	__u32 open_flags;
	__s32 backing_id;
};

struct fuse_release_in {
	__u64 fh;
	__u32 flags;
	__u32 release_flags;
	__u64 lock_owner;
};

struct fuse_flush_in {
	__u64 fh;
	__u32 unused;
	__u32 padding;
	__u64 lock_owner;
};

struct fuse_read_in {
	__u64 fh;
	__u64 offset;
	__u32 size;
	__u32 read_flags;
	__u64 lock_owner;
	__u32 flags;
	__u32 padding;
};

struct fuse_write_in {
	__u64 fh;
	__u64 offset;
	__u32 size;
	__u32 write_flags;
	__u64 lock_owner;
	__u32 flags;
	__u32 padding;
};

struct fuse_write_out {
	__u32 size;
	__u32 padding;
};

struct fuse_statfs_out {
	struct fuse_kstatfs st;
};

struct fuse_fsync_in {
	__u64 fh;
	__u32 fsync_flags;
	__u32 padding;
};

struct fuse_setxattr_in {
	__u32 size;
	__u32 flags;
	__u32 setxattr_flags;
	__u32 padding;
};

struct fuse_getxattr_in {
	__u32 size;
	__u32 padding;
};

struct fuse_getxattr_out {
	__u32 size;
	__u32 padding;
};

struct fuse_access_in {
	__u32 mask;
	__u32 padding;
};

struct fuse_fallocate_in {
	__u64 fh;
	__u64 offset;
	__u64 length;
	__u32 mode;
	__u32 padding;
};

struct fuse_lseek_in {
	__u64 fh;
	__u64 offset;
	__u32 whence;
	__u32 padding;
};

struct fuse_lseek_out {
	__u64 offset;
};

struct fuse_copy_file_range_in {
	__u64 fh_in;
	__u64 off_in;
	__u64 nodeid_out;
	__u64 fh_out;
	__u64 off_out;
	__u64 len;
	__u64 flags;
};

/* Request and reply headers on /dev/fuse (mainline 7.38+, §1.3). */
struct fuse_in_header {
	__u32 len;
	__u32 opcode;
	__u64 unique;
	__u64 nodeid;
	__u32 uid;
	__u32 gid;
	__u32 pid;
	__u16 total_extlen;	/* in 8-byte units */
	__u16 padding;
};

struct fuse_out_header {
	__u32 len;
	__s32 error;
	__u64 unique;
};

struct fuse_ext_header {
	__u32 size;
	__u32 type;
};

/* One directory entry in readdir's dirents buffer. */
struct fuse_dirent {
	__u64 ino;
	__u64 off;
	__u32 namelen;
	__u32 type;
	char name[];
};

#define FUSE_NAME_OFFSET	__builtin_offsetof(struct fuse_dirent, name)
#define FUSE_DIRENT_ALIGN(x)	(((x) + sizeof(__u64) - 1) & ~(sizeof(__u64) - 1))
#define FUSE_DIRENT_SIZE(d)	FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + (d)->namelen)

/* FUSE-BPF additions to the uapi (§1.3, §1.4). */

/* readdir's output, an input and output of the readdir postfilter. */
struct fuse_read_out {
	__u64 offset;
	__u32 again;
	__u32 padding;
};

/* read/write postfilter outputs ("likely not what we want" upstream). */
struct fuse_read_iter_out {
	__u64 ret;
};

struct fuse_write_iter_out {
	__u64 ret;
};

/* One lookup-reply entry (24 bytes): a backing fd or a fuse_ops name. */
struct fuse_bpf_entry_out {
	__u32 entry_type;	/* enum fuse_bpf_type */
	__u32 unused;		/* must be 0 */
	union {
		struct {
			__u64 unused2;
			__u64 fd;
		};
		char name[BPF_FUSE_NAME_MAX + 1];
	};
};

/*
 * The struct_ops type. Member order and prototypes are [C] from v3 28/37;
 * that a NULL member behaves like BPF_FUSE_CONTINUE is [I]. "pre" callbacks
 * may modify their inputs; "post" callbacks get const inputs and may modify
 * the outputs. The opcode each pair runs for is noted; for get_link,
 * read_iter, write_iter, create_open, dir_fsync and file_fallocate it is
 * inferred from the name [I].
 */
struct fuse_ops {
	/* FUSE_OPEN */
	__u32 (*open_prefilter)(const struct bpf_fuse_meta_info *meta,
				struct fuse_open_in *in);
	__u32 (*open_postfilter)(const struct bpf_fuse_meta_info *meta,
				 const struct fuse_open_in *in,
				 struct fuse_open_out *out);

	/* FUSE_OPENDIR */
	__u32 (*opendir_prefilter)(const struct bpf_fuse_meta_info *meta,
				   struct fuse_open_in *in);
	__u32 (*opendir_postfilter)(const struct bpf_fuse_meta_info *meta,
				    const struct fuse_open_in *in,
				    struct fuse_open_out *out);

	/* FUSE_CREATE */
	__u32 (*create_open_prefilter)(const struct bpf_fuse_meta_info *meta,
				       struct fuse_create_in *in,
				       struct fuse_buffer *name);
	__u32 (*create_open_postfilter)(const struct bpf_fuse_meta_info *meta,
					const struct fuse_create_in *in,
					const struct fuse_buffer *name,
					struct fuse_entry_out *entry_out,
					struct fuse_open_out *out);

	/* FUSE_RELEASE */
	__u32 (*release_prefilter)(const struct bpf_fuse_meta_info *meta,
				   struct fuse_release_in *in);
	__u32 (*release_postfilter)(const struct bpf_fuse_meta_info *meta,
				    const struct fuse_release_in *in);

	/* FUSE_RELEASEDIR */
	__u32 (*releasedir_prefilter)(const struct bpf_fuse_meta_info *meta,
				      struct fuse_release_in *in);
	__u32 (*releasedir_postfilter)(const struct bpf_fuse_meta_info *meta,
				       const struct fuse_release_in *in);

	/* FUSE_FLUSH */
	__u32 (*flush_prefilter)(const struct bpf_fuse_meta_info *meta,
				 struct fuse_flush_in *in);
	__u32 (*flush_postfilter)(const struct bpf_fuse_meta_info *meta,
				  const struct fuse_flush_in *in);

	/* FUSE_LSEEK */
	__u32 (*lseek_prefilter)(const struct bpf_fuse_meta_info *meta,
				 struct fuse_lseek_in *in);
	__u32 (*lseek_postfilter)(const struct bpf_fuse_meta_info *meta,
				  const struct fuse_lseek_in *in,
				  struct fuse_lseek_out *out);

	/* FUSE_COPY_FILE_RANGE */
	__u32 (*copy_file_range_prefilter)(const struct bpf_fuse_meta_info *meta,
					   struct fuse_copy_file_range_in *in);
	__u32 (*copy_file_range_postfilter)(const struct bpf_fuse_meta_info *meta,
					    const struct fuse_copy_file_range_in *in,
					    struct fuse_write_out *out);

	/* FUSE_FSYNC */
	__u32 (*fsync_prefilter)(const struct bpf_fuse_meta_info *meta,
				 struct fuse_fsync_in *in);
	__u32 (*fsync_postfilter)(const struct bpf_fuse_meta_info *meta,
				  const struct fuse_fsync_in *in);

	/* FUSE_FSYNCDIR */
	__u32 (*dir_fsync_prefilter)(const struct bpf_fuse_meta_info *meta,
				     struct fuse_fsync_in *in);
	__u32 (*dir_fsync_postfilter)(const struct bpf_fuse_meta_info *meta,
				      const struct fuse_fsync_in *in);

	/* FUSE_GETXATTR: the postfilter's value is used if in->size > 0, else out. */
	__u32 (*getxattr_prefilter)(const struct bpf_fuse_meta_info *meta,
				    struct fuse_getxattr_in *in,
				    struct fuse_buffer *name);
	__u32 (*getxattr_postfilter)(const struct bpf_fuse_meta_info *meta,
				     const struct fuse_getxattr_in *in,
				     const struct fuse_buffer *name,
				     struct fuse_buffer *value,
				     struct fuse_getxattr_out *out);

	/* FUSE_LISTXATTR: same rule as getxattr. */
	__u32 (*listxattr_prefilter)(const struct bpf_fuse_meta_info *meta,
				     struct fuse_getxattr_in *in);
	__u32 (*listxattr_postfilter)(const struct bpf_fuse_meta_info *meta,
				      const struct fuse_getxattr_in *in,
				      struct fuse_buffer *value,
				      struct fuse_getxattr_out *out);

	/* FUSE_SETXATTR */
	__u32 (*setxattr_prefilter)(const struct bpf_fuse_meta_info *meta,
				    struct fuse_setxattr_in *in,
				    struct fuse_buffer *name,
				    struct fuse_buffer *value);
	__u32 (*setxattr_postfilter)(const struct bpf_fuse_meta_info *meta,
				     const struct fuse_setxattr_in *in,
				     const struct fuse_buffer *name,
				     const struct fuse_buffer *value);

	/* FUSE_REMOVEXATTR */
	__u32 (*removexattr_prefilter)(const struct bpf_fuse_meta_info *meta,
				       struct fuse_buffer *name);
	__u32 (*removexattr_postfilter)(const struct bpf_fuse_meta_info *meta,
					const struct fuse_buffer *name);

	/* FUSE_READ */
	__u32 (*read_iter_prefilter)(const struct bpf_fuse_meta_info *meta,
				     struct fuse_read_in *in);
	__u32 (*read_iter_postfilter)(const struct bpf_fuse_meta_info *meta,
				      const struct fuse_read_in *in,
				      struct fuse_read_iter_out *out);

	/* FUSE_WRITE */
	__u32 (*write_iter_prefilter)(const struct bpf_fuse_meta_info *meta,
				      struct fuse_write_in *in);
	__u32 (*write_iter_postfilter)(const struct bpf_fuse_meta_info *meta,
				       const struct fuse_write_in *in,
				       struct fuse_write_iter_out *out);

	/* FUSE_FALLOCATE */
	__u32 (*file_fallocate_prefilter)(const struct bpf_fuse_meta_info *meta,
					  struct fuse_fallocate_in *in);
	__u32 (*file_fallocate_postfilter)(const struct bpf_fuse_meta_info *meta,
					   const struct fuse_fallocate_in *in);

	/*
	 * FUSE_LOOKUP. The postfilter may write up to FUSE_BPF_MAX_ENTRIES
	 * struct fuse_bpf_entry_out into entries through a RW dynptr.
	 */
	__u32 (*lookup_prefilter)(const struct bpf_fuse_meta_info *meta,
				  struct fuse_buffer *name);
	__u32 (*lookup_postfilter)(const struct bpf_fuse_meta_info *meta,
				   const struct fuse_buffer *name,
				   struct fuse_entry_out *out,
				   struct fuse_buffer *entries);

	/* FUSE_MKNOD */
	__u32 (*mknod_prefilter)(const struct bpf_fuse_meta_info *meta,
				 struct fuse_mknod_in *in,
				 struct fuse_buffer *name);
	__u32 (*mknod_postfilter)(const struct bpf_fuse_meta_info *meta,
				  const struct fuse_mknod_in *in,
				  const struct fuse_buffer *name);

	/* FUSE_MKDIR */
	__u32 (*mkdir_prefilter)(const struct bpf_fuse_meta_info *meta,
				 struct fuse_mkdir_in *in,
				 struct fuse_buffer *name);
	__u32 (*mkdir_postfilter)(const struct bpf_fuse_meta_info *meta,
				  const struct fuse_mkdir_in *in,
				  const struct fuse_buffer *name);

	/* FUSE_RMDIR */
	__u32 (*rmdir_prefilter)(const struct bpf_fuse_meta_info *meta,
				 struct fuse_buffer *name);
	__u32 (*rmdir_postfilter)(const struct bpf_fuse_meta_info *meta,
				  const struct fuse_buffer *name);

	/* FUSE_RENAME2 */
	__u32 (*rename2_prefilter)(const struct bpf_fuse_meta_info *meta,
				   struct fuse_rename2_in *in,
				   struct fuse_buffer *old_name,
				   struct fuse_buffer *new_name);
	__u32 (*rename2_postfilter)(const struct bpf_fuse_meta_info *meta,
				    const struct fuse_rename2_in *in,
				    const struct fuse_buffer *old_name,
				    const struct fuse_buffer *new_name);

	/* FUSE_RENAME */
	__u32 (*rename_prefilter)(const struct bpf_fuse_meta_info *meta,
				  struct fuse_rename_in *in,
				  struct fuse_buffer *old_name,
				  struct fuse_buffer *new_name);
	__u32 (*rename_postfilter)(const struct bpf_fuse_meta_info *meta,
				   const struct fuse_rename_in *in,
				   const struct fuse_buffer *old_name,
				   const struct fuse_buffer *new_name);

	/* FUSE_UNLINK */
	__u32 (*unlink_prefilter)(const struct bpf_fuse_meta_info *meta,
				  struct fuse_buffer *name);
	__u32 (*unlink_postfilter)(const struct bpf_fuse_meta_info *meta,
				   const struct fuse_buffer *name);

	/* FUSE_LINK */
	__u32 (*link_prefilter)(const struct bpf_fuse_meta_info *meta,
				struct fuse_link_in *in,
				struct fuse_buffer *name);
	__u32 (*link_postfilter)(const struct bpf_fuse_meta_info *meta,
				 const struct fuse_link_in *in,
				 const struct fuse_buffer *name);

	/* FUSE_GETATTR */
	__u32 (*getattr_prefilter)(const struct bpf_fuse_meta_info *meta,
				   struct fuse_getattr_in *in);
	__u32 (*getattr_postfilter)(const struct bpf_fuse_meta_info *meta,
				    const struct fuse_getattr_in *in,
				    struct fuse_attr_out *out);

	/* FUSE_SETATTR */
	__u32 (*setattr_prefilter)(const struct bpf_fuse_meta_info *meta,
				   struct fuse_setattr_in *in);
	__u32 (*setattr_postfilter)(const struct bpf_fuse_meta_info *meta,
				    const struct fuse_setattr_in *in,
				    struct fuse_attr_out *out);

	/* FUSE_STATFS */
	__u32 (*statfs_prefilter)(const struct bpf_fuse_meta_info *meta);
	__u32 (*statfs_postfilter)(const struct bpf_fuse_meta_info *meta,
				   struct fuse_statfs_out *out);

	/* FUSE_READLINK; the postfilter cannot change the path (upstream TODO). */
	__u32 (*get_link_prefilter)(const struct bpf_fuse_meta_info *meta,
				    struct fuse_buffer *name);
	__u32 (*get_link_postfilter)(const struct bpf_fuse_meta_info *meta,
				     const struct fuse_buffer *name);

	/* FUSE_SYMLINK */
	__u32 (*symlink_prefilter)(const struct bpf_fuse_meta_info *meta,
				   struct fuse_buffer *name,
				   struct fuse_buffer *path);
	__u32 (*symlink_postfilter)(const struct bpf_fuse_meta_info *meta,
				    const struct fuse_buffer *name,
				    const struct fuse_buffer *path);

	/* FUSE_READDIR; buffer holds the dirents (struct fuse_dirent). */
	__u32 (*readdir_prefilter)(const struct bpf_fuse_meta_info *meta,
				   struct fuse_read_in *in);
	__u32 (*readdir_postfilter)(const struct bpf_fuse_meta_info *meta,
				    const struct fuse_read_in *in,
				    struct fuse_read_out *out,
				    struct fuse_buffer *buffer);

	/* FUSE_ACCESS */
	__u32 (*access_prefilter)(const struct bpf_fuse_meta_info *meta,
				  struct fuse_access_in *in);
	__u32 (*access_postfilter)(const struct bpf_fuse_meta_info *meta,
				   const struct fuse_access_in *in);

	/* Registration key; see BPF_FUSE_NAME_MAX. */
	char name[BPF_FUSE_NAME_MAX];
};

#pragma clang attribute pop

/* --------------------------------------------------------------------- */
/* kfuncs                                                                 */
/* --------------------------------------------------------------------- */

/*
 * FUSE kfuncs as posted in v3 and v4 (bpf_common.h). Prefer these: no
 * posted kernel uses the renamed set below [C for v3, I for v4].
 */
/* Read-only dynptr over buf->data[0..size). */
extern void bpf_fuse_get_ro_dynptr(const struct fuse_buffer *buf,
				   struct bpf_dynptr *out) __ksym;
/*
 * Make buf writable at size bytes (up to max_size for VARIABLE_SIZE
 * buffers; fails for IMMUTABLE ones), keeping the old contents if copy,
 * then a read-write dynptr over it.
 */
extern void bpf_fuse_get_rw_dynptr(struct fuse_buffer *buf,
				   struct bpf_dynptr *out, __u64 size,
				   bool copy) __ksym;
/* buf->size. */
extern __u32 bpf_fuse_return_len(struct fuse_buffer *buf) __ksym;

/*
 * The names suggested in review of v3 28/37, which a later kernel may use
 * instead [I]; prototypes assumed equal to the v3 ones [?].
 */
extern void bpf_dynptr_from_fuse_buffer_ro(const struct fuse_buffer *buf,
					   struct bpf_dynptr *out) __ksym;
extern void bpf_dynptr_from_fuse_buffer_rw(struct fuse_buffer *buf,
					   struct bpf_dynptr *out, __u64 size,
					   bool copy) __ksym;

/*
 * Generic dynptr kfuncs (mainline; libbpf 1.1 headers do not declare
 * them). The FUSE-BPF series lets buffer__opt be NULL. bpf_dynptr_size()
 * is mainline 6.4+, newer than the v3 base, so names use
 * bpf_fuse_return_len() instead.
 */
extern void *bpf_dynptr_slice(const struct bpf_dynptr *p, __u32 offset,
			      void *buffer__opt, __u32 buffer__szk) __ksym;
extern void *bpf_dynptr_slice_rdwr(const struct bpf_dynptr *p, __u32 offset,
				   void *buffer__opt, __u32 buffer__szk) __ksym;
extern __u32 bpf_dynptr_size(const struct bpf_dynptr *p) __ksym;

/* --------------------------------------------------------------------- */
/* Helpers for policy authors                                             */
/* --------------------------------------------------------------------- */

/*
 * BPF_FUSE_OP declares one callback: a struct_ops program with typed
 * arguments, returning __u32 (a BPF_FUSE_* code or a negative errno).
 * Assign it to the fuse_ops member it implements with (void *)name.
 */
#define BPF_FUSE_OP(name, args...) \
	SEC("struct_ops/" #name) __u32 BPF_PROG(name, ##args)

/*
 * Name matching over a fuse_buffer (a lookup, create, mkdir, ... name).
 * The kernel may or may not count a trailing NUL in the buffer's size [I];
 * these helpers accept both. Patterns longer than FUSE_NAME_MATCH_MAX
 * never match.
 */
#ifndef FUSE_NAME_MATCH_MAX
#define FUSE_NAME_MATCH_MAX 64
#endif

/* fuse_name_len returns the name's length without a trailing NUL. */
static __always_inline __u32 fuse_name_len(const struct fuse_buffer *name,
					   const struct bpf_dynptr *p)
{
	__u32 size = bpf_fuse_return_len((struct fuse_buffer *)name);
	char last = 1;

	if (size > 0 && !bpf_dynptr_read(&last, 1, p, size - 1, 0) && last == 0)
		size--;
	return size;
}

/*
 * fuse_name_cmp_at reports whether the name's bytes [off, off+n) equal
 * s[0..n). s may point into .rodata (policy parameters).
 */
static __always_inline bool fuse_name_cmp_at(const struct bpf_dynptr *p,
					     __u32 off, const char *s, __u32 n)
{
	char buf[FUSE_NAME_MATCH_MAX];
	__u32 i;

	if (n > FUSE_NAME_MATCH_MAX)
		return false;
	if (n == 0)
		return true;
	if (bpf_dynptr_read(buf, n, p, off, 0))
		return false;
	for (i = 0; i < FUSE_NAME_MATCH_MAX; i++) {
		if (i >= n)
			break;
		if (buf[i] != s[i])
			return false;
	}
	return true;
}

/* fuse_name_eq reports whether the name is exactly s[0..n). */
static __always_inline bool fuse_name_eq(const struct fuse_buffer *name,
					 const char *s, __u32 n)
{
	struct bpf_dynptr p;

	bpf_fuse_get_ro_dynptr(name, &p);
	if (fuse_name_len(name, &p) != n)
		return false;
	return fuse_name_cmp_at(&p, 0, s, n);
}

/* fuse_name_has_prefix reports whether the name starts with s[0..n). */
static __always_inline bool fuse_name_has_prefix(const struct fuse_buffer *name,
						 const char *s, __u32 n)
{
	struct bpf_dynptr p;

	bpf_fuse_get_ro_dynptr(name, &p);
	if (fuse_name_len(name, &p) < n)
		return false;
	return fuse_name_cmp_at(&p, 0, s, n);
}

/* fuse_name_has_suffix reports whether the name ends with s[0..n). */
static __always_inline bool fuse_name_has_suffix(const struct fuse_buffer *name,
						 const char *s, __u32 n)
{
	struct bpf_dynptr p;
	__u32 len;

	bpf_fuse_get_ro_dynptr(name, &p);
	len = fuse_name_len(name, &p);
	if (len < n)
		return false;
	return fuse_name_cmp_at(&p, len - n, s, n);
}

/* Literal forms: FUSE_NAME_EQ(name, "secret"). */
#define FUSE_NAME_EQ(name, lit)		fuse_name_eq(name, lit, sizeof(lit) - 1)
#define FUSE_NAME_HAS_PREFIX(name, lit)	fuse_name_has_prefix(name, lit, sizeof(lit) - 1)
#define FUSE_NAME_HAS_SUFFIX(name, lit)	fuse_name_has_suffix(name, lit, sizeof(lit) - 1)

#endif /* __FUSE_BPF_H */
