{{/* app.kubernetes.io/* labels of the etcd chart. */}}

{{- define "etcd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "etcd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Every object's labels but the component, which tells the members from the test pod. */}}
{{- define "etcd.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "etcd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: kubemaint
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "etcd.labels" -}}
{{ include "etcd.commonLabels" . }}
app.kubernetes.io/component: kv-store
{{- end }}

{{- define "etcd.testLabels" -}}
{{ include "etcd.commonLabels" . }}
app.kubernetes.io/component: test
{{- end }}

{{/* The members for a NetworkPolicy: the test pod shares the selector labels, not the component. */}}
{{- define "etcd.podLabels" -}}
{{ include "etcd.selectorLabels" . }}
app.kubernetes.io/component: kv-store
{{- end }}
