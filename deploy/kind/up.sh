#!/usr/bin/env bash
# Brings up the e2e cluster from nothing on this kind of machine: dockerd with
# the runc wrapper, the offline kind node image, the driver/provisioner/test
# images, a kind cluster with those images loaded, and the chart installed.
# Every build is cached under $FUSEBPF_CACHE and skipped when done; a cluster
# that already exists is reused. Writes the kubeconfig to $FUSEBPF_CACHE/kubeconfig.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib.sh"
NAMESPACE=${NAMESPACE:-fusebpf-system}
RELEASE=${RELEASE:-fusebpf-csi}

"$HERE/start-dockerd.sh"
# Kubernetes (the longest step) and the node rootfs are independent.
"$HERE/build-k8s.sh" &
k8s=$!
"$HERE/build-etcd.sh"
ROOTFS_ONLY=1 "$HERE/build-node-image.sh"
wait $k8s
"$HERE/build-node-image.sh"
go_install "sigs.k8s.io/kind@$KIND_VERSION" kind
go_install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" helm
tag=$("$HERE/build-images.sh")

if ! kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
	log "kind create cluster $CLUSTER_NAME"
	kind create cluster --name "$CLUSTER_NAME" --image "$KIND_NODE_IMAGE" --config "$HERE/cluster.yaml" --wait 120s
fi
kind get kubeconfig --name "$CLUSTER_NAME" > "$FUSEBPF_CACHE/kubeconfig"
export KUBECONFIG=$FUSEBPF_CACHE/kubeconfig
# allowedBackingRoots in values.yaml: hostPath datasets live here on the node.
for n in $(kind get nodes --name "$CLUSTER_NAME"); do docker exec "$n" mkdir -p /srv/fusebpf-datasets; done
log "kind load $DRIVER_IMAGE:$tag $PROVISIONER_IMAGE $TESTIMAGE $KUBECTL_IMAGE"
kind load docker-image --name "$CLUSTER_NAME" "$DRIVER_IMAGE:$tag" "$PROVISIONER_IMAGE" "$TESTIMAGE" "$KUBECTL_IMAGE" >/dev/null
log "helm upgrade --install $RELEASE"
helm upgrade --install "$RELEASE" "$ROOT/deploy/helm/fusebpf-csi" --namespace "$NAMESPACE" --create-namespace \
	-f "$HERE/values.yaml" --set image.tag="$tag" --wait --timeout 5m
kubectl -n "$NAMESPACE" get pods -o wide
log "cluster ready: export KUBECONFIG=$KUBECONFIG"
