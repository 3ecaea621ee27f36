{{/* Names and labels, as gateway-helm's eg.* helpers make them. */}}
{{- define "eg.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "eg.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "eg.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "eg.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "eg.selectorLabels" -}}
app.kubernetes.io/name: {{ include "eg.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "eg.image" -}}
{{- $d := .Values.deployment.envoyGateway.image -}}
{{- if $d.repository -}}
{{ $d.repository }}:{{ default .Chart.AppVersion $d.tag }}
{{- else -}}
{{ .Values.global.images.envoyGateway.image }}
{{- end -}}
{{- end }}

{{- define "eg.imagePullPolicy" -}}
{{ default .Values.global.images.envoyGateway.pullPolicy .Values.deployment.envoyGateway.imagePullPolicy }}
{{- end }}
