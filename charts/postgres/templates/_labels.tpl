{{/* app.kubernetes.io/* labels of the postgres chart. */}}

{{- define "postgres.selectorLabels" -}}
app.kubernetes.io/name: {{ include "postgres.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Every object's labels but the component, which tells the server's pod from the test pod. */}}
{{- define "postgres.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "postgres.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: kubemaint
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "postgres.labels" -}}
{{ include "postgres.commonLabels" . }}
app.kubernetes.io/component: database
{{- end }}

{{- define "postgres.testLabels" -}}
{{ include "postgres.commonLabels" . }}
app.kubernetes.io/component: test
{{- end }}

{{/* The server's pod for a NetworkPolicy: the test pod shares the selector labels, not the component. */}}
{{- define "postgres.podLabels" -}}
{{ include "postgres.selectorLabels" . }}
app.kubernetes.io/component: database
{{- end }}
