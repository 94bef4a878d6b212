#!/usr/bin/env bash
# Checks the Helm chart without a cluster: helm lint, values.schema.json
# accepting and refusing what it should, and "helm template | kubeconform"
# against strict schemas of Kubernetes and of our CRDs, generated offline
# (test/e2e/cmd/kubeschema) from the k8s.io/kubernetes module's swagger.json.
# Tools are pinned and cached under $FUSEBPF_CACHE. CI calls this script.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/deploy/kind/lib.sh"
CHART=$ROOT/deploy/helm/fusebpf-csi
KUBE=${K8S_VERSION#v}

go_install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" helm
go_install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" kubeconform

SCHEMAS=$FUSEBPF_CACHE/kubeschemas-$K8S_VERSION
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
(cd "$ROOT/test/e2e" && go build -o "$work/kubeschema" ./cmd/kubeschema)
if [ ! -f "$SCHEMAS/.complete" ]; then
	rm -rf "$SCHEMAS"
	swagger=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | jq -r .Dir)/api/openapi-spec/swagger.json
	"$work/kubeschema" -swagger "$swagger" -o "$SCHEMAS"
	touch "$SCHEMAS/.complete"
fi
# CRD schemas change with the chart: always regenerated, next to a copy.
cp -r "$SCHEMAS" "$work/schemas"
"$work/kubeschema" -o "$work/schemas" "$CHART"/crds/*.yaml

fail=0
ok() { printf 'ok   %s\n' "$*"; }
bad() { printf 'FAIL %s\n' "$*"; fail=1; }

# Value sets the chart must render and that must validate.
cat > "$work/full.yaml" <<'V'
node: {registration: driver, hostNetwork: true, extraArgs: [--operation-timeout=1m]}
controller: {enabled: true, replicas: 3}
allowedBackingRoots: [/srv/datasets, /mnt/shared]
storageClasses:
  - {name: ro, policy: read-only}
  - name: shared-hidden
    policy: hide
    backing: hostPath
    backingPath: /srv/datasets/a
    enforcement: userspace
    policyParameters: {hidePatterns: "secret*,*.key"}
    isDefaultClass: true
    mountOptions: [noexec]
V
cat > "$work/minimal.yaml" <<'V'
controller: {enabled: false}
builtinPolicies: {enabled: false, names: []}
storageClasses: []
tests: {enabled: false}
V
sets=("defaults:" "kind:$ROOT/deploy/kind/values.yaml" "full:$work/full.yaml" "minimal:$work/minimal.yaml")
for s in "${sets[@]}"; do
	name=${s%%:*}; f=${s#*:}
	args=(); [ -n "$f" ] && args=(-f "$f")
	if helm lint --strict "$CHART" "${args[@]}" > "$work/lint.log" 2>&1; then ok "helm lint ($name)"; else cat "$work/lint.log"; bad "helm lint ($name)"; fi
	if helm template t "$CHART" "${args[@]}" --namespace fusebpf-system --include-crds --kube-version "$KUBE" > "$work/out-$name.yaml" 2> "$work/tpl.log" &&
		kubeconform -strict -summary -schema-location "$work/schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json" "$work/out-$name.yaml"; then
		ok "helm template | kubeconform ($name)"
	else
		cat "$work/tpl.log"; bad "helm template | kubeconform ($name)"
	fi
done

# What the values select must show in the output.
has() { grep -qE -- "$2" "$work/out-$1.yaml"; }
has defaults 'name: node-driver-registrar' && has defaults 'name: liveness-probe' && ! has defaults '--plugin-registration-dir' &&
	ok "registration: sidecar renders the sidecars" || bad "registration: sidecar"
has kind '- --kubelet-registration-path=/var/lib/kubelet/plugins/fusebpf.csi.io/csi.sock' && ! has kind 'name: node-driver-registrar' && has kind '--metrics-address=:9809' &&
	ok "registration: driver renders no sidecar" || bad "registration: driver"
has full 'backingPath: "/srv/datasets/a"' && has full 'policy.hidePatterns: "secret\*,\*.key"' && has full '--allowed-backing-root=/mnt/shared' &&
	has full 'replicas: 3' && has full '--leader-election' && ok "storage classes, backing roots and controller render" || bad "full values"
[ "$(grep -c '^kind: FilterPolicy' "$work/out-defaults.yaml")" = 6 ] && ok "one FilterPolicy per built-in" || bad "FilterPolicy count"
! has minimal '^kind: (FilterPolicy|StorageClass|Deployment)' && ok "minimal values render no policies, classes or controller" || bad "minimal values"

# values.schema.json must refuse these.
refuse() {
	local what=$1; shift
	if helm template t "$CHART" --kube-version "$KUBE" "$@" >/dev/null 2>&1; then bad "schema accepted $what"; else ok "schema refuses $what"; fi
}
refuse "an unknown registration mode" --set node.registration=kubelet
refuse "hostPath backing without backingPath" --set 'storageClasses[0].name=x,storageClasses[0].backing=hostPath'
refuse "an unknown enforcement" --set 'storageClasses[0].name=x,storageClasses[0].enforcement=strict'
refuse "a relative kubeletDir" --set kubeletDir=var/lib/kubelet
refuse "/ as a backing root" --set 'allowedBackingRoots[0]=/'
refuse "an unknown top-level key" --set nodes.registration=driver
refuse "an unknown built-in policy" --set 'builtinPolicies.names[0]=nope'

[ $fail = 0 ] && echo "chart-check: all passed" || { echo "chart-check: FAILED"; exit 1; }
