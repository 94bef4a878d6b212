// Package fusebpf mounts filtered volumes: a backing directory seen through
// FUSE, where every file operation passes the volume's policy.
//
// The userspace tier (this package's [Mount]) serves the mount from a go-fuse
// daemon inside the calling process. Every access to the backing directory is
// relative to a file descriptor the daemon holds for the backing root or a
// directory below it, resolved one name at a time with openat2
// (RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS, RESOLVE_NO_MAGICLINKS), so a
// workload that swaps a directory for a symlink cannot make the privileged
// daemon touch anything outside the backing root. File data goes through FUSE
// passthrough when the kernel offers it.
//
// The kernel tier lives in the kernel subpackage.
package fusebpf
