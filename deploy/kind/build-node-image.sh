#!/usr/bin/env bash
# Builds a kind node image for Kubernetes $K8S_VERSION without any registry:
# a Debian bookworm rootfs (debootstrap) + kind's own base-image files (from the
# kind Go module) + Debian containerd/runc/CNI + the Kubernetes binaries from
# build-k8s.sh + control-plane images built FROM scratch, preloaded into the
# node's containerd. "kind build node-image" cannot run offline (it fetches
# pause/etcd/coredns/kindnetd), so this does its steps by hand.
# Needs: build-k8s.sh and build-etcd.sh outputs, dockerd (start-dockerd.sh).
# Output: docker image local/kind-node:$K8S_VERSION. ROOTFS_ONLY=1 stops after
# the debootstrap step (it needs neither Kubernetes nor docker).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

W=$FUSEBPF_CACHE/kindnode-$K8S_VERSION
B=$FUSEBPF_CACHE/k8s-$K8S_VERSION/bin
ETCD=$FUSEBPF_CACHE/etcd-$ETCD_VERSION/etcd
R=$W/rootfs
mkdir -p "$W"

if [ "${ROOTFS_ONLY:-}" != 1 ] && docker image inspect "$KIND_NODE_IMAGE" >/dev/null 2>&1; then
	log "$KIND_NODE_IMAGE: cached"; exit 0
fi

# --- Debian rootfs ---
if [ ! -f "$W/.rootfs-complete" ]; then
	command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
	# the Debian mirror this machine's apt already uses
	MIRROR=${MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
	MIRROR=${MIRROR:-http://deb.debian.org/debian}
	rm -rf "$R"
	log "debootstrap bookworm ($MIRROR)"
	$NICE debootstrap --variant=minbase \
		--include=systemd,systemd-sysv,dbus,containerd,runc,containernetworking-plugins,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,e2fsprogs,bash,ca-certificates,jq,procps,socat,fuse3 \
		bookworm "$R" "$MIRROR" > "$W/debootstrap.log" 2>&1 || { tail -20 "$W/debootstrap.log"; exit 1; }
	touch "$W/.rootfs-complete"
fi
[ "${ROOTFS_ONLY:-}" = 1 ] && exit 0

for f in "$B/.complete" "$ETCD"; do [ -e "$f" ] || { echo "missing $f: run build-k8s.sh and build-etcd.sh" >&2; exit 1; }; done
go_install "sigs.k8s.io/kind@$KIND_VERSION" kind
go_install "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION" crictl
F=$(go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | jq -r .Dir)/images/base/files

if [ ! -f "$W/.raw-complete" ] || ! docker image inspect "local/kind-node-raw:$K8S_VERSION" >/dev/null 2>&1; then
	log "assembling the node rootfs"
	# --- what kind's images/base/Dockerfile does ---
	install -m755 "$F"/usr/local/bin/* "$R/usr/local/bin/"
	mkdir -p "$R/kind/bin" "$R/kind/manifests" "$R/etc/containerd" "$R/etc/default" "$R/etc/sysctl.d" \
		"$R/etc/systemd/system/kubelet.service.d" "$R/etc/kubernetes/manifests" "$R/opt/cni/bin" "$R/etc/cni/net.d"
	cp "$F/kind/README.txt" "$R/kind/"; install -m755 "$F"/kind/bin/* "$R/kind/bin/"
	cp "$F/etc/crictl.yaml" "$R/etc/"; cp "$F"/etc/containerd/* "$R/etc/containerd/"
	cp "$F"/etc/default/* "$R/etc/default/"; cp "$F"/etc/sysctl.d/* "$R/etc/sysctl.d/"
	cp "$F"/etc/systemd/system/*.service "$F"/etc/systemd/system/*.slice "$R/etc/systemd/system/"
	cp "$F"/etc/systemd/system/kubelet.service.d/* "$R/etc/systemd/system/kubelet.service.d/"
	find "$R/lib/systemd/system/sysinit.target.wants/" -name systemd-tmpfiles-setup.service -delete
	rm -f "$R"/lib/systemd/system/multi-user.target.wants/* "$R"/etc/systemd/system/*.wants/* \
		"$R"/lib/systemd/system/local-fs.target.wants/* "$R"/lib/systemd/system/sockets.target.wants/*udev* \
		"$R"/lib/systemd/system/sockets.target.wants/*initctl* "$R"/lib/systemd/system/basic.target.wants/*
	grep -q '^ReadKMsg=no' "$R/etc/systemd/journald.conf" || echo "ReadKMsg=no" >> "$R/etc/systemd/journald.conf"
	ln -sf /usr/lib/systemd/systemd "$R/sbin/init"
	# Debian's binaries where kind expects its own builds (kind's containerd config is v2: fine for 1.6)
	ln -sf /usr/bin/containerd "$R/usr/local/bin/containerd"; ln -sf /usr/bin/ctr "$R/usr/local/bin/ctr"
	ln -sf /usr/bin/containerd-shim-runc-v2 "$R/usr/local/bin/containerd-shim-runc-v2"
	for p in host-local loopback ptp portmap bridge; do ln -sf "/usr/lib/cni/$p" "$R/opt/cni/bin/$p"; done
	install -m755 "$TOOLS_BIN/crictl" "$R/usr/local/bin/crictl"
	# pods inside the node are privileged too: same wrapper as the host's dockerd
	install -m755 "$HERE/runc-nosysresource" "$R/usr/local/sbin/runc-nosysresource"
	python3 - "$R/etc/containerd/config.toml" <<'PY'
import sys; p=sys.argv[1]; s=open(p).read()
k='''  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
    # use systemd cgroup by default
    SystemdCgroup = true'''
if 'runc-nosysresource' not in s:
    if k not in s: sys.exit("kind containerd config changed: cannot add the runc wrapper")
    s=s.replace(k, k+'\n    BinaryName = "/usr/local/sbin/runc-nosysresource"')
s=s.replace('restrict_oom_score_adj = false','restrict_oom_score_adj = true')
open(p,'w').write(s)
PY
	chroot "$R" ctr oci spec | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
		| jq 'del(.process.rlimits)' > "$R/etc/containerd/cri-base.json"
	chroot "$R" systemctl enable kubelet.service containerd.service undo-mount-hacks.service >/dev/null 2>&1
	chroot "$R" systemctl mask systemd-binfmt.service >/dev/null 2>&1
	# --- what "kind build node-image" does ---
	install -m755 "$B/kubeadm" "$B/kubelet" "$B/kubectl" "$R/usr/bin/"
	echo "$K8S_VERSION" > "$R/kind/version"
	# single-node pod network without kindnetd (the cluster config says disableDefaultCNI)
	cp "$HERE/10-kind-bridge.conflist" "$R/etc/cni/net.d/10-kind-bridge.conflist"
	tar -C "$R" -c . | docker import - "local/kind-node-raw:$K8S_VERSION" >/dev/null
	touch "$W/.raw-complete"
fi

log "control-plane images"
mkdir -p "$W/ctx" && printf 'FROM local/kind-node-raw:%s\nENV container=docker\nSTOPSIGNAL SIGRTMIN+3\nENTRYPOINT ["/usr/local/bin/entrypoint","/sbin/init"]\n' "$K8S_VERSION" > "$W/ctx/Dockerfile"
docker build -q -t "local/kind-node-base:$K8S_VERSION" "$W/ctx" >/dev/null
mkdir -p "$W/imgs/pause" && gcc -static -Os -o "$W/imgs/pause/pause" "$HERE/pause.c" && strip "$W/imgs/pause/pause"
printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' > "$W/imgs/pause/Dockerfile"
docker build -q -t registry.k8s.io/pause:3.10.1 "$W/imgs/pause" >/dev/null; docker tag registry.k8s.io/pause:3.10.1 registry.k8s.io/pause:3.10
for c in kube-apiserver kube-controller-manager kube-scheduler; do
	mkdir -p "$W/imgs/$c" && cp "$B/$c" "$W/imgs/$c/"
	printf 'FROM scratch\nCOPY %s /usr/local/bin/%s\nENTRYPOINT ["/usr/local/bin/%s"]\n' $c $c $c > "$W/imgs/$c/Dockerfile"
	docker build -q -t "registry.k8s.io/$c:$K8S_VERSION" "$W/imgs/$c" >/dev/null
done
# kube-proxy needs iptables: base it on the node rootfs
mkdir -p "$W/imgs/kube-proxy" && cp "$B/kube-proxy" "$W/imgs/kube-proxy/"
printf 'FROM local/kind-node-raw:%s\nCOPY kube-proxy /usr/local/bin/kube-proxy\nENTRYPOINT ["/usr/local/bin/kube-proxy"]\n' "$K8S_VERSION" > "$W/imgs/kube-proxy/Dockerfile"
docker build -q -t "registry.k8s.io/kube-proxy:$K8S_VERSION" "$W/imgs/kube-proxy" >/dev/null
ETCD_TAG=$("$B/kubeadm" config images list --kubernetes-version "$K8S_VERSION" | grep /etcd: | cut -d: -f2)
mkdir -p "$W/imgs/etcd" && cp "$ETCD" "$W/imgs/etcd/etcd"
printf 'FROM scratch\nCOPY etcd /usr/local/bin/etcd\n' > "$W/imgs/etcd/Dockerfile"
docker build -q -t "registry.k8s.io/etcd:$ETCD_TAG" "$W/imgs/etcd" >/dev/null
IMAGES="registry.k8s.io/kube-apiserver:$K8S_VERSION registry.k8s.io/kube-controller-manager:$K8S_VERSION registry.k8s.io/kube-scheduler:$K8S_VERSION registry.k8s.io/kube-proxy:$K8S_VERSION registry.k8s.io/etcd:$ETCD_TAG registry.k8s.io/pause:3.10 registry.k8s.io/pause:3.10.1"
# shellcheck disable=SC2086
docker save $IMAGES -o "$W/preload.tar"

log "preloading control-plane images into the node image"
cid=$(docker run -d --privileged --entrypoint sleep "local/kind-node-base:$K8S_VERSION" infinity)
trap 'docker rm -f "$cid" >/dev/null 2>&1 || true' EXIT
docker exec "$cid" bash -c 'nohup containerd >/dev/null 2>&1 & for i in $(seq 1 30); do [ -S /run/containerd/containerd.sock ] && break; sleep 1; done'
docker exec -i "$cid" ctr --namespace=k8s.io images import --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests - < "$W/preload.tar" >/dev/null
docker exec "$cid" pkill containerd; sleep 2; docker stop -t1 "$cid" >/dev/null
docker commit --change 'ENTRYPOINT ["/usr/local/bin/entrypoint","/sbin/init"]' --change 'CMD []' "$cid" "$KIND_NODE_IMAGE" >/dev/null
rm -f "$W/preload.tar"
log "built $KIND_NODE_IMAGE"
