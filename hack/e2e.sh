#!/usr/bin/env bash
# End-to-end run on this machine, from nothing: build everything (cached under
# $FUSEBPF_CACHE), create the kind cluster, install the chart, run test/e2e
# (which ends with helm uninstall), delete the cluster. Prints the time of
# each phase. KEEP_CLUSTER=1 keeps the cluster (and skips the uninstall test)
# for debugging; E2E_ARGS adds "go test" arguments (e.g. -run TestCleanup).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/deploy/kind/lib.sh"
KEEP_CLUSTER=${KEEP_CLUSTER:-0}

start=$(date +%s); last=$start; timings=()
phase() { local now; now=$(date +%s); timings+=("$(printf '%-10s %5ds' "$1" $((now - last)))"); last=$now; }
report() {
	phase "$1"
	printf '\ne2e timings:\n'; printf '  %s\n' "${timings[@]}"
	printf '  %-10s %5ds\n' total $(($(date +%s) - start))
}

# 1. build everything and bring the cluster up with the chart installed
"$ROOT/deploy/kind/up.sh"
phase cluster-up
export KUBECONFIG=$FUSEBPF_CACHE/kubeconfig

# 2. the chart's own test, then the suite; the suite uninstalls the release at
#    the end unless the cluster is kept
rc=0
helm test fusebpf-csi --namespace fusebpf-system || rc=$?
args=(-release fusebpf-csi -driver-namespace fusebpf-system -helm "$(command -v helm)"
	-test-image "$TESTIMAGE" -test-image-pull-policy Never)
[ "$KEEP_CLUSTER" = 1 ] || args+=(-uninstall)
# shellcheck disable=SC2086
(cd "$ROOT/test/e2e" && go test -count=1 -timeout 45m -v ${E2E_ARGS:-} . -args "${args[@]}") || rc=1
phase e2e

# 3. tear down
if [ "$KEEP_CLUSTER" = 1 ]; then
	log "cluster $CLUSTER_NAME kept: export KUBECONFIG=$KUBECONFIG; deploy/kind/down.sh deletes it"
else
	"$ROOT/deploy/kind/down.sh"
fi
report teardown
exit $rc
