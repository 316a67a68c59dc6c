{{/* Names of the etcd chart's objects. */}}

{{- define "etcd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* "<release>-etcd" (the client Service other charts are wired to), unless overridden. */}}
{{- define "etcd.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (default .Chart.Name .Values.nameOverride) | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* The headless Service that gives each member a stable DNS name. */}}
{{- define "etcd.peerService" -}}
{{- printf "%s-peer" (include "etcd.fullname" .) }}
{{- end }}

{{- define "etcd.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* --initial-cluster: every member's stable peer URL. */}}
{{- define "etcd.initialCluster" -}}
{{- $full := include "etcd.fullname" . }}
{{- $peer := include "etcd.peerService" . }}
{{- $members := list }}
{{- range $i := until (int .Values.replicaCount) }}
{{- $members = append $members (printf "%s-%d=http://%s-%d.%s.%s.svc:2380" $full $i $full $i $peer $.Release.Namespace) }}
{{- end }}
{{- join "," $members }}
{{- end }}
