#!/usr/bin/env bash
# etcd server from the Go module proxy. "go install go.etcd.io/etcd/server/v3@..."
# refuses (its go.mod has replace directives), so a two-line main module wraps
# etcdmain. Output: $FUSEBPF_CACHE/etcd-$ETCD_VERSION/etcd. About 1.5 minutes.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

W=$FUSEBPF_CACHE/etcd-$ETCD_VERSION
if [ -x "$W/etcd" ]; then log "etcd $ETCD_VERSION: cached"; exit 0; fi
mkdir -p "$W/src"; cd "$W/src"
[ -f go.mod ] || go mod init local/etcd >/dev/null 2>&1
printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' > main.go
go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" && go mod tidy
log "building etcd $ETCD_VERSION"
CGO_ENABLED=0 $NICE go build -trimpath -ldflags "-s -w" -o "$W/etcd.tmp" .
mv "$W/etcd.tmp" "$W/etcd"
"$W/etcd" --version
