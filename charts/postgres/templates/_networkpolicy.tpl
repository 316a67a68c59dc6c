{{/* Pieces of the NetworkPolicies (networkpolicy.yaml). */}}

{{/* The egress rule for DNS lookups (networkPolicy.dnsTo): the test pod resolves the Service's name. */}}
{{- define "postgres.dnsEgress" -}}
- ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
  {{- with .Values.networkPolicy.dnsTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
