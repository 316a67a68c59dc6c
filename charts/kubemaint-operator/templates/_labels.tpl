{{/* app.kubernetes.io/* labels of the operator chart. */}}

{{- define "kubemaint-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubemaint-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kubemaint-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "kubemaint-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: kubemaint
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
