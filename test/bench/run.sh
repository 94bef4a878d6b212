#!/usr/bin/env bash
# Builds and runs the benchmark (docs/benchmarks.md).
#
#   test/bench/run.sh short [flags...]   CI: small sizes, one round, a few minutes
#   test/bench/run.sh full  [flags...]   by hand on a quiet machine: ~30 minutes
#
# Flags go to fusebpf-bench (-rounds, -configs, -groups, ...; -h lists them).
# Results land in $BENCH_OUT (default /var/tmp/fusebpf-bench-results/<mode>-<time>):
# results.md, results.json, fio's raw JSON and, in full mode, cpu.pprof, a
# profile of the in-process daemons (go tool pprof -tagfocus=config=allow-all ...).
#
# Full mode waits up to $BENCH_WAIT_MIN minutes (default 30) for the 1-minute
# load average to fall below $BENCH_MAX_LOAD (default 0.5 per CPU), then runs
# anyway; the report records the load at the start and the end.
set -euo pipefail
cd "$(dirname "$0")/../.."

mode=${1:-}
case $mode in
short) flags=(-short) ;;
full) flags=() ;;
*)
	echo "usage: $0 short|full [fusebpf-bench flags...]" >&2
	exit 2
	;;
esac
shift

if [ "$(id -u)" != 0 ]; then
	echo "run.sh: the benchmark mounts FUSE and drops caches; run it as root" >&2
	exit 1
fi
for tool in fio bindfs tar find; do
	command -v "$tool" >/dev/null || {
		echo "run.sh: $tool not found (./hack/deps.sh installs fio and bindfs)" >&2
		exit 1
	}
done

out=${BENCH_OUT:-/var/tmp/fusebpf-bench-results/$mode-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$out"
bin=$out/fusebpf-bench
go build -o "$bin" ./test/bench/cmd/fusebpf-bench

if [ "$mode" = full ]; then
	cpus=$(nproc)
	max=${BENCH_MAX_LOAD:-$(awk -v c="$cpus" 'BEGIN { print 0.5 * c }')}
	deadline=$(($(date +%s) + 60 * ${BENCH_WAIT_MIN:-30}))
	while awk -v m="$max" '{ exit !($1 > m) }' /proc/loadavg && [ "$(date +%s)" -lt "$deadline" ]; do
		echo "run.sh: load $(cut -d' ' -f1-3 /proc/loadavg) above $max; waiting" >&2
		sleep 30
	done
	flags+=(-cpuprofile "$out/cpu.pprof")
fi

"$bin" "${flags[@]}" -out "$out" "$@"
echo "run.sh: results in $out (results.md, results.json)" >&2
