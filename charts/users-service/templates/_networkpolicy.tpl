{{/* Pieces of the NetworkPolicies (networkpolicy.yaml). */}}

{{/* The TCP ports of ETCD_ENDPOINTS as a JSON list, for the NetworkPolicy (the service refuses an endpoint
without a port, so the chart does too). */}}
{{- define "users-service.etcdPorts" -}}
{{- $ports := list }}
{{- range $endpoint := splitList "," (tpl .Values.etcd.endpoints .) }}
{{- $endpoint = trimSuffix "/" (trim $endpoint) }}
{{- if $endpoint }}
{{- $port := regexFind ":[0-9]+$" $endpoint | trimPrefix ":" }}
{{- if not $port }}
{{- fail (printf "etcd.endpoints: %q has no port" $endpoint) }}
{{- end }}
{{- $ports = append $ports (int $port) }}
{{- end }}
{{- end }}
{{- toJson (uniq $ports) }}
{{- end }}

{{/* The egress rule for DNS lookups (networkPolicy.dnsTo), shared by the service's and the test's policy. */}}
{{- define "users-service.dnsEgress" -}}
- ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
  {{- with .Values.networkPolicy.dnsTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
