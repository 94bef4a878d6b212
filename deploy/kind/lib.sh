# Shared settings for the deploy/kind scripts; sourced, not run.
# Every built artefact lives under one cache directory, keyed by version, and a
# step whose output is already there is skipped. Remove a directory to rebuild it.
# shellcheck shell=bash

FUSEBPF_CACHE=${FUSEBPF_CACHE:-$HOME/.cache/fusebpf-csi}
K8S_VERSION=${K8S_VERSION:-v1.34.4}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
KIND_VERSION=${KIND_VERSION:-v0.33.0}
CRICTL_VERSION=${CRICTL_VERSION:-v1.34.0}
HELM_VERSION=${HELM_VERSION:-v3.22.0}
KUBECONFORM_VERSION=${KUBECONFORM_VERSION:-v0.7.0}
PROVISIONER_VERSION=${PROVISIONER_VERSION:-v6.4.0}
CLUSTER_NAME=${CLUSTER_NAME:-fusebpf}
# Image names the chart is installed with; "local/" never resolves to a registry,
# so a missing image fails loudly instead of being pulled.
DRIVER_IMAGE=${DRIVER_IMAGE:-local/fusebpf-csi}
DRIVER_TAG=${DRIVER_TAG:-e2e}
PROVISIONER_IMAGE=${PROVISIONER_IMAGE:-local/csi-provisioner:$PROVISIONER_VERSION}
TESTIMAGE=${TESTIMAGE:-local/fusebpf-e2e-busybox:1}
KUBECTL_IMAGE=local/kubectl:$K8S_VERSION # the chart's uninstall cleanup Job

KIND_NODE_IMAGE=local/kind-node:$K8S_VERSION
TOOLS_BIN=$FUSEBPF_CACHE/tools-bin
export PATH=$TOOLS_BIN:$FUSEBPF_CACHE/k8s-$K8S_VERSION/bin:$PATH

# Heavy builds share two cores with other work.
NICE=${NICE:-nice -n 10}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# go_install PKG@VERSION NAME: a pinned Go tool into $TOOLS_BIN, once per version.
go_install() {
	local pkg=$1 name=$2 ver=${1##*@}
	local stamp=$TOOLS_BIN/.$name-$ver
	if [ -x "$TOOLS_BIN/$name" ] && [ -f "$stamp" ]; then return 0; fi
	mkdir -p "$TOOLS_BIN"
	log "go install $pkg"
	GOBIN=$TOOLS_BIN CGO_ENABLED=0 $NICE go install "$pkg"
	rm -f "$TOOLS_BIN/.$name-"*
	touch "$stamp"
}
