{{/*
The API token volume of the operator's and the responder's pods: what automounting would project, spelled
out, so that only the container that mounts it gets it and its lifetime is written here: a bound token the
kubelet renews (at 80% of its lifetime; kubernetes_asyncio re-reads the file), the cluster CA and the
pod's namespace.
*/}}
{{- define "kubemaint-operator.apiAccessVolume" -}}
- name: kube-api-access
  projected:
    defaultMode: 0444
    sources:
      - serviceAccountToken:
          path: token
          expirationSeconds: {{ .Values.serviceAccount.tokenExpirationSeconds }}
      - configMap:
          name: kube-root-ca.crt
          items:
            - {key: ca.crt, path: ca.crt}
      - downwardAPI:
          items:
            - path: namespace
              fieldRef: {apiVersion: v1, fieldPath: metadata.namespace}
{{- end }}
