{{/* The CSI driver name: fixed, it is part of every volume handle and CSINode. */}}
{{- define "fusebpf-csi.driverName" -}}fusebpf.csi.io{{- end }}

{{- define "fusebpf-csi.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "fusebpf-csi.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "fusebpf-csi.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "fusebpf-csi.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: fusebpf-csi
{{- end }}

{{/* Selector labels; call with (dict "ctx" $ "component" "node"). */}}
{{- define "fusebpf-csi.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fusebpf-csi.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "fusebpf-csi.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* "repo:tag" of a sidecar; call with the sidecar's values. */}}
{{- define "fusebpf-csi.sidecarImage" -}}
{{- printf "%s:%s" .image.repository .image.tag }}
{{- end }}

{{- define "fusebpf-csi.nodeServiceAccount" -}}
{{- if .Values.node.serviceAccount.create }}
{{- default (printf "%s-node" (include "fusebpf-csi.fullname" .)) .Values.node.serviceAccount.name }}
{{- else }}
{{- required "node.serviceAccount.name is required when node.serviceAccount.create is false" .Values.node.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "fusebpf-csi.controllerServiceAccount" -}}
{{- if .Values.controller.serviceAccount.create }}
{{- default (printf "%s-controller" (include "fusebpf-csi.fullname" .)) .Values.controller.serviceAccount.name }}
{{- else }}
{{- required "controller.serviceAccount.name is required when controller.serviceAccount.create is false" .Values.controller.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Directory of the CSI socket on the host, as kubelet sees it. */}}
{{- define "fusebpf-csi.pluginDir" -}}
{{- printf "%s/plugins/%s" (trimSuffix "/" .Values.kubeletDir) (include "fusebpf-csi.driverName" .) }}
{{- end }}

{{/* What each built-in policy does, for FilterPolicy.spec.description. */}}
{{- define "fusebpf-csi.builtinDescription" -}}
{{- $d := dict
  "allow-all" "Every operation passes; the filtered view equals the backing directory."
  "read-only" "Reads pass; every operation that would modify the volume fails with EROFS."
  "hide" "Names matching policy.hidePatterns are absent: lookups fail with ENOENT and readdir drops them."
  "append-only" "Files may be created and appended to; overwrite, truncate, unlink and rename of existing files fail."
  "audit" "Every operation passes and is reported as an event per operation."
  "uid-gate" "Operations pass only for the caller uids/gids listed in the policy parameters."
-}}
{{- get $d . | default "Built-in policy." }}
{{- end }}
