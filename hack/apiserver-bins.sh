#!/usr/bin/env bash
# Builds and caches what the API-server integration tests run (pkg/kube,
# package kubetest): kube-apiserver and etcd, with the deploy/kind build
# scripts, into $FUSEBPF_CACHE keyed by version. Cached builds are reused, so
# this is quick when warm; cold it builds the Kubernetes binaries (about 14
# minutes on 2 cores) and etcd (about 2). CI calls it before the tests.
# Prints the two paths.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/deploy/kind/lib.sh"

APISERVER=$FUSEBPF_CACHE/k8s-$K8S_VERSION/bin/kube-apiserver
ETCD=$FUSEBPF_CACHE/etcd-$ETCD_VERSION/etcd

# Another build of the same cache (a kind e2e run, say) may be under way;
# build-k8s.sh marks its output complete only at the end.
if [ ! -f "$FUSEBPF_CACHE/k8s-$K8S_VERSION/bin/.complete" ]; then
	"$ROOT/deploy/kind/build-k8s.sh"
fi
[ -x "$ETCD" ] || "$ROOT/deploy/kind/build-etcd.sh"

for b in "$APISERVER" "$ETCD"; do
	[ -x "$b" ] || { echo "apiserver-bins: $b was not built" >&2; exit 1; }
done
echo "kube-apiserver: $APISERVER"
echo "etcd: $ETCD"
