# fusebpf-csi image: the static fusebpf-csi binary FROM scratch, and nothing else.
#
#   docker build -t fusebpf-csi .
#       builds the binary inside $GO_IMAGE (needs a registry to pull it from);
#   make build && docker build --target host -t fusebpf-csi .
#       packages bin/fusebpf-csi built on the host: no pull, works offline.
#
# Why nothing else: the driver mounts and unmounts with mount(2)/umount2(2)
# (FUSE with go-fuse's direct mount, bind mounts for publish) and uses
# k8s.io/mount-utils only to parse /proc/self/mountinfo, so it never runs
# mount, umount or fusermount. deploy/kind/build-images.sh fails the build if
# the binary ever links mount-utils' exec-based Mounter, which would need them.
# /tmp exists for libraries that create temporary files; the chart mounts an
# emptyDir there because the root file system is read-only.

ARG GO_IMAGE=golang:1.26-bookworm

# --- offline: a binary built on the host (make build) ---
FROM scratch AS host
WORKDIR /tmp
WORKDIR /
COPY bin/fusebpf-csi /usr/local/bin/fusebpf-csi
ENTRYPOINT ["/usr/local/bin/fusebpf-csi"]

# --- the binary built from source in a Go image ---
FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN make build VERSION=${VERSION}

FROM scratch
WORKDIR /tmp
WORKDIR /
COPY --from=build /src/bin/fusebpf-csi /usr/local/bin/fusebpf-csi
ENTRYPOINT ["/usr/local/bin/fusebpf-csi"]
