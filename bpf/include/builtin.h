/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared pieces of the built-in policies: open(2) flags and setattr valid
 * bits (uapi values; the policies are self-contained and include no libc
 * headers), and the parameter conventions.
 *
 * Parameters are `const volatile` globals in .rodata, named as the
 * StorageClass names them (`policy.<name>`). A list is an array with a
 * companion `<name>Count` holding how many elements are set.
 */
#ifndef __FUSEBPF_BUILTIN_H
#define __FUSEBPF_BUILTIN_H

#include <fuse_bpf.h>

#define O_ACCMODE	00000003
#define O_WRONLY	00000001
#define O_RDWR		00000002
#define O_TRUNC		00001000
#define O_APPEND	00002000

#define FATTR_MODE	(1 << 0)
#define FATTR_UID	(1 << 1)
#define FATTR_GID	(1 << 2)
#define FATTR_SIZE	(1 << 3)

#define FALLOC_FL_KEEP_SIZE	0x01

#define BUILTIN_OP(name, args...) BPF_FUSE_OP(name, ##args)

char LICENSE[] SEC("license") = "GPL";

#endif
