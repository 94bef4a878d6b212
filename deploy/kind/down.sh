#!/usr/bin/env bash
# Deletes the e2e kind cluster. dockerd, the cached images and builds stay.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
if command -v kind >/dev/null && kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
	kind delete cluster --name "$CLUSTER_NAME"
fi
rm -f "$FUSEBPF_CACHE/kubeconfig"
