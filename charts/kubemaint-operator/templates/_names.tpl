{{/* Names of the operator chart's objects. */}}

{{- define "kubemaint-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped name; the release name alone when it already contains the chart name. */}}
{{- define "kubemaint-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "kubemaint-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kubemaint-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The kopf peering object (cluster-scoped) shared by this release's replicas. */}}
{{- define "kubemaint-operator.peeringName" -}}
{{- default (include "kubemaint-operator.fullname" .) .Values.peering.name }}
{{- end }}

{{- define "kubemaint-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The maintenance responder: its Deployment, Service, ServiceAccount and role share this name. */}}
{{- define "kubemaint-operator.responderName" -}}
{{- printf "%s-responder" (include "kubemaint-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
