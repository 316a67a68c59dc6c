{{/* Names of the users-service chart's objects. */}}

{{- define "users-service.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped name; the release name alone when it already contains the chart name. */}}
{{- define "users-service.fullname" -}}
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

{{- define "users-service.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The etcd key the operator writes for this service: <prefix>/<serviceName> unless set. */}}
{{- define "users-service.maintenanceKey" -}}
{{- default (printf "%s/%s" (trimSuffix "/" .Values.maintenance.prefix) .Values.serviceName) .Values.maintenance.key }}
{{- end }}

{{/* The Secret holding the database password: an existing one, or the chart's. */}}
{{- define "users-service.databaseSecret" -}}
{{- default (printf "%s-db" (include "users-service.fullname" .)) (tpl .Values.database.existingSecret .) }}
{{- end }}

{{- define "users-service.bypassSecret" -}}
{{- default (printf "%s-bypass" (include "users-service.fullname" .)) .Values.maintenance.bypass.existingSecret }}
{{- end }}

{{/* Where the database password file is mounted (DB_PASSWORD_FILE). */}}
{{- define "users-service.passwordFile" -}}
/etc/kubemaint/db/password
{{- end }}

{{/* The pods' ServiceAccount: the chart's (fullname unless named) or, without one, the named or "default". */}}
{{- define "users-service.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "users-service.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- /* The ConfigMap with the maintenance page: the user's, or the chart's from maintenance.page.template
(empty: no page configured, the library's own). Both set is refused. */ -}}
{{- define "users-service.pageConfigMap" -}}
{{- $page := .Values.maintenance.page -}}
{{- if and $page.existingConfigMap $page.template -}}
{{- fail "maintenance.page: set template or existingConfigMap, not both" -}}
{{- end -}}
{{- if $page.existingConfigMap -}}
{{- $page.existingConfigMap -}}
{{- else if $page.template -}}
{{- include "users-service.fullname" . }}-page
{{- end -}}
{{- end -}}
