{{/* Pieces of the NetworkPolicies (networkpolicy.yaml). */}}

{{/* The egress rule for DNS lookups (networkPolicy.dnsTo): members and the test pod resolve peer names. */}}
{{- define "etcd.dnsEgress" -}}
- ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
  {{- with .Values.networkPolicy.dnsTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
