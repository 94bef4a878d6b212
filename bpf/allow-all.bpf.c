// SPDX-License-Identifier: GPL-2.0
/* allow-all: no callbacks; every operation runs as on the backing directory. */
#include <builtin.h>

SEC(".struct_ops.link")
struct fuse_ops allow_all = {
	.name = "allow_all",
};
