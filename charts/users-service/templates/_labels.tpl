{{/* app.kubernetes.io/* labels of the users-service chart. */}}

{{- define "users-service.selectorLabels" -}}
app.kubernetes.io/name: {{ include "users-service.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Every object's labels but the component, which tells the service's pods from the test pod. */}}
{{- define "users-service.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "users-service.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: kubemaint
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "users-service.labels" -}}
{{ include "users-service.commonLabels" . }}
app.kubernetes.io/component: api
{{- end }}

{{- define "users-service.testLabels" -}}
{{ include "users-service.commonLabels" . }}
app.kubernetes.io/component: test
{{- end }}

{{/* The service's own pods for a NetworkPolicy: the test pod shares the selector labels, not the component. */}}
{{- define "users-service.podLabels" -}}
{{ include "users-service.selectorLabels" . }}
app.kubernetes.io/component: api
{{- end }}
