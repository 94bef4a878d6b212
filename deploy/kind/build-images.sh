#!/usr/bin/env bash
# Builds the images the e2e cluster runs, all FROM scratch from host-built
# static binaries (no registry is reachable):
#   $DRIVER_IMAGE:<tag>   bin/fusebpf-csi (make build), via the Dockerfile's "host" target;
#   $PROVISIONER_IMAGE    external-provisioner built from the Go module proxy;
#   $TESTIMAGE            a static busybox from Debian's busybox-static, for test pods;
#   $KUBECTL_IMAGE        kubectl from build-k8s.sh, for the chart's uninstall cleanup Job.
# Prints the driver tag (derived from the binary's digest, so a changed binary
# rolls the DaemonSet) on stdout. Needs dockerd (start-dockerd.sh).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib.sh"

# --- driver (DRIVER_BINARY: package a binary built elsewhere instead) ---
if [ -n "${DRIVER_BINARY:-}" ]; then
	BIN=$DRIVER_BINARY
else
	log "make build"
	$NICE make -C "$ROOT" build >&2
	BIN=$ROOT/bin/fusebpf-csi
fi
# The image has no mount/umount/fusermount: refuse a binary that would exec them.
if go tool nm "$BIN" | grep -qE 'k8s.io/mount-utils\.\(\*Mounter\)\.(doMount|Unmount)$'; then
	echo "bin/fusebpf-csi links mount-utils' exec-based Mounter: the image needs mount/umount (see Dockerfile)" >&2
	exit 1
fi
tag=${DRIVER_TAG_OVERRIDE:-e2e-$(sha256sum "$BIN" | cut -c1-12)}
if ! docker image inspect "$DRIVER_IMAGE:$tag" >/dev/null 2>&1; then
	log "docker build $DRIVER_IMAGE:$tag"
	# A context holding only the binary: the Dockerfile's "host" stage needs nothing else.
	ctx=$(mktemp -d); trap 'rm -rf "$ctx"' EXIT
	mkdir -p "$ctx/bin" && cp "$BIN" "$ctx/bin/fusebpf-csi"
	docker build -q --target host -f "$ROOT/Dockerfile" -t "$DRIVER_IMAGE:$tag" "$ctx" >/dev/null
fi

# Older driver builds are of no use: keep only this one.
docker images --format '{{.Repository}}:{{.Tag}}' "$DRIVER_IMAGE" | grep -v ":$tag\$" | grep ':e2e-' |
	xargs -r docker rmi >/dev/null 2>&1 || true

# --- external-provisioner ---
if ! docker image inspect "$PROVISIONER_IMAGE" >/dev/null 2>&1; then
	W=$FUSEBPF_CACHE/csi-provisioner-$PROVISIONER_VERSION
	if [ ! -x "$W/csi-provisioner" ]; then
		# Its go.mod has replace directives, so "go install" refuses: build
		# inside the module, which is then the main module.
		M=$(go mod download -json "github.com/kubernetes-csi/external-provisioner/v6@$PROVISIONER_VERSION" | jq -r .Dir)
		log "building csi-provisioner $PROVISIONER_VERSION"
		mkdir -p "$W"
		(cd "$M" && GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0 $NICE go build -trimpath \
			-ldflags "-s -w -X main.version=$PROVISIONER_VERSION" -o "$W/csi-provisioner.tmp" ./cmd/csi-provisioner)
		mv "$W/csi-provisioner.tmp" "$W/csi-provisioner"
	fi
	mkdir -p "$W/ctx" && cp "$W/csi-provisioner" "$W/ctx/"
	printf 'FROM scratch\nCOPY csi-provisioner /csi-provisioner\nENTRYPOINT ["/csi-provisioner"]\n' > "$W/ctx/Dockerfile"
	docker build -q -t "$PROVISIONER_IMAGE" "$W/ctx" >/dev/null
fi

# --- kubectl, for the chart's post-delete cleanup Job: the static binary from build-k8s.sh ---
if ! docker image inspect "$KUBECTL_IMAGE" >/dev/null 2>&1; then
	W=$FUSEBPF_CACHE/kubectl-image-$K8S_VERSION
	rm -rf "$W"; mkdir -p "$W"
	cp "$FUSEBPF_CACHE/k8s-$K8S_VERSION/bin/kubectl" "$W/kubectl"
	printf 'FROM scratch\nCOPY kubectl /bin/kubectl\nENV PATH=/bin\nENTRYPOINT ["/bin/kubectl"]\n' > "$W/Dockerfile"
	docker build -q -t "$KUBECTL_IMAGE" "$W" >/dev/null
fi

# --- test pods: static busybox ---
if ! docker image inspect "$TESTIMAGE" >/dev/null 2>&1; then
	dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "install ok installed" ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends busybox-static >/dev/null
	W=$FUSEBPF_CACHE/busybox-$(dpkg-query -W -f='${Version}' busybox-static)
	rm -rf "$W/ctx"; mkdir -p "$W/ctx/rootfs/bin" "$W/ctx/rootfs/tmp" "$W/ctx/rootfs/etc"
	install -m755 /bin/busybox "$W/ctx/rootfs/bin/busybox"
	for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$W/ctx/rootfs/bin/$a"; done
	chmod 1777 "$W/ctx/rootfs/tmp"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$W/ctx/rootfs/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' > "$W/ctx/rootfs/etc/group"
	printf 'FROM scratch\nCOPY rootfs/ /\nENV PATH=/bin\nCMD ["sh"]\n' > "$W/ctx/Dockerfile"
	docker build -q -t "$TESTIMAGE" "$W/ctx" >/dev/null
fi
echo "$tag"
