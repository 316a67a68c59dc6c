{{/*
Probes of the one-shot `helm test` pod. The kubelet needs none (the pod ends with etcdctl); they are here so
that every pod the chart renders passes the same scan (scripts/chart-scan.sh), and all they claim is true:
the container is up and can run etcdctl. The image is distroless (no shell, no `true`), and `etcdctl
version` is local: it opens no connection.
*/}}
{{- define "etcd.testProbes" -}}
livenessProbe:
  exec: {command: [/usr/local/bin/etcdctl, version]}
  periodSeconds: 10
readinessProbe:
  exec: {command: [/usr/local/bin/etcdctl, version]}
  periodSeconds: 10
{{- end }}
