{{/* The release's base name, cut to leave room for component suffixes. */}}
{{- define "gantry.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* A component's object name: gantry.component (dict "root" $ "name" "server"). */}}
{{- define "gantry.component" -}}
{{- printf "%s-%s" (include "gantry.fullname" .root) .name -}}
{{- end -}}

{{- define "gantry.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "gantry.labels" -}}
{{ include "gantry.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "gantry.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Pod annotations: the component's own, and where Prometheus scrapes it. */}}
{{- define "gantry.podAnnotations" -}}
{{- if .root.Values.metrics.annotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with .annotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "gantry.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "gantry.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* Liveness on /healthz, readiness on /readyz, both on the metrics port. */}}
{{- define "gantry.probes" -}}
livenessProbe:
  httpGet: { path: /healthz, port: metrics }
  periodSeconds: 10
  failureThreshold: 3
readinessProbe:
  httpGet: { path: /readyz, port: metrics }
  periodSeconds: 5
  failureThreshold: 2
startupProbe:
  httpGet: { path: /healthz, port: metrics }
  periodSeconds: 2
  failureThreshold: 60
{{- end -}}

{{- define "gantry.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* A role's Redis URL: its own value, else the chart's Redis for that role, else none (in memory). */}}
{{- define "gantry.redisUrl" -}}
{{- if .url -}}
{{- .url -}}
{{- else if .root.Values.redis.enabled -}}
{{- printf "redis://%s:6379" (include "gantry.component" (dict "root" .root "name" (printf "redis-%s" .role))) -}}
{{- end -}}
{{- end -}}

{{/* A PodDisruptionBudget: gantry.pdb (dict "root" $ "name" "server" "pdb" .Values.server.pdb). */}}
{{- define "gantry.pdb" -}}
{{- if .pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "gantry.component" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "gantry.labels" . | nindent 4 }}
spec:
  {{- if hasKey .pdb "minAvailable" }}
  minAvailable: {{ .pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .pdb.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "gantry.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/* The plurals of Gantry's custom resources, from the chart's crds/ (deploy/crds), comma-separated: a new kind needs no edit here. */}}
{{- define "gantry.resourcePlurals" -}}
{{- $plurals := list }}
{{- range $path, $_ := .Files.Glob "crds/*.gantry.dev.yaml" }}
{{- $plurals = append $plurals (base $path | trimSuffix ".gantry.dev.yaml") }}
{{- end }}
{{- join "," $plurals }}
{{- end -}}
