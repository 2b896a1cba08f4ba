{{/* The release's resource name, at most 63 characters (a DNS label). */}}
{{- define "crossrank.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "crossrank.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "crossrank.labels" -}}
{{ include "crossrank.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* SIGTERM comes after preStop; then --drain-delay, then --grace for accepted work; 5 s to spare. */}}
{{- define "crossrank.terminationGracePeriodSeconds" -}}
{{- add .Values.preStopSeconds .Values.serve.drainDelaySeconds .Values.serve.graceSeconds 5 -}}
{{- end -}}

{{/* The CLI's path inside the images of docker/ (their ENTRYPOINT runs `serve`). */}}
{{- define "crossrank.cli" -}}/app/node_modules/crossrank/dist/cli.js{{- end -}}
