// Package bench measures filtered volumes against the directory they show
// and against other FUSE file systems, in one run on one backing directory.
//
// It mounts, side by side on the same backing directory:
//
//  1. native: the backing directory itself;
//  2. allow-all: the userspace tier (pkg/fusebpf) with the allow-all policy;
//  3. hide-audit: the userspace tier with a policy that hides 20 name
//     patterns and records every operation in a ring buffer, drained while
//     the benchmark runs (bpf/testdata/bench_hide_audit.c);
//  4. gofuse: go-fuse's own loopback file system with the same FUSE mount
//     options as the userspace tier, the "just FUSE" baseline;
//  5. bindfs, as the distribution ships it, with -o allow_other.
//
// The FUSE daemons of 2–4 run in this process, so a CPU profile of the run
// is a profile of their serving side (each labelled config=<name>); every
// workload runs in other processes: fio, find, tar, rm, and this program
// started again as a metadata probe ([Probe]).
//
// Workloads run interleaved: each measurement is taken on every
// configuration in turn, and the whole sequence is repeated. Results are
// medians over the rounds with their minimum and maximum, and ratios are
// taken within a round before the median is. [Run] writes results.json and
// results.md to the output directory.
package bench
