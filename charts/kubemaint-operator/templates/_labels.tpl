{{/* app.kubernetes.io/* labels of the operator chart. */}}

{{- define "kubemaint-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubemaint-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Every object's labels but the component, which tells the operator's pods from the test pod. */}}
{{- define "kubemaint-operator.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "kubemaint-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: kubemaint
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "kubemaint-operator.labels" -}}
{{ include "kubemaint-operator.commonLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "kubemaint-operator.testLabels" -}}
{{ include "kubemaint-operator.commonLabels" . }}
app.kubernetes.io/component: test
{{- end }}

{{/* The operator's pods for a NetworkPolicy: the test pod shares the selector labels, not the component. */}}
{{- define "kubemaint-operator.podLabels" -}}
{{ include "kubemaint-operator.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{/* The responder's pods: a name of their own, so no selector of the operator's ever matches them. */}}
{{- define "kubemaint-operator.responderSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-responder" (include "kubemaint-operator.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kubemaint-operator.responderLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "kubemaint-operator.responderSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: kubemaint
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: responder
{{- end }}
