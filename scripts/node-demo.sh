#!/usr/bin/env bash
# The stack on real pods on this machine, without Docker: `make node-up` (a control plane and a real node:
# kubelet, containerd, kube-proxy, CoreDNS, in namespaces of their own), the project's images built with
# buildah and imported into the node, `helm install` of the umbrella chart in a namespace that enforces the
# restricted Pod Security Standard, then the story of the chart's NOTES through a port-forward.
# Everything is left running; `make node-down` stops it and leaves the host as it was.
#
# Usage: scripts/node-demo.sh      (make node-demo; needs root)   PORT=8081 NAMESPACE=shop RELEASE=kubemaint
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$("$root/scripts/cache-dir.sh")/bin:$HOME/.local/bin:$PATH"
port=${PORT:-8081}
ns=${NAMESPACE:-shop}
release=${RELEASE:-kubemaint}
stack=charts/kubemaint-stack
step() { printf '\n\033[1;36m== %s\033[0m\n' "$*"; }
show() { printf '\033[2m$ %s\033[0m\n' "$*"; eval "$@"; }
# status: the HTTP status of GET /users through the port-forward
status() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/users" || true; }
# expect CODE: wait (10 s at most) until GET /users answers CODE, or stop saying what went wrong.
expect() {
  local code=""
  for _ in $(seq 1 50); do code=$(status); [ "$code" = "$1" ] && return 0; sleep 0.2; done
  echo "node-demo: expected HTTP $1 from /users, got $code" >&2
  exit 1
}

step "The node (make node-up)"
scripts/bootstrap.sh etcd helm k8s node
uv run --frozen devstack --dir .run/node up --node --no-postgres
eval "$(uv run --frozen devstack --dir .run/node env | grep KUBECONFIG)"
kubectl wait --for=condition=Ready node --all --timeout=120s >/dev/null

step "The images: built with buildah when their inputs changed, imported into the node's containerd"
# It prints the helm arguments that select this build's content tags (--set <chart>.image.tag=...).
tags=$(uv run --frozen devstack --dir .run/node images)

step "helm install the umbrella chart into namespace $ns (Pod Security Standard: restricted)"
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl label namespace "$ns" --overwrite pod-security.kubernetes.io/enforce=restricted >/dev/null
helm dependency build "$stack" >/dev/null
show helm upgrade --install "$release" "$stack" --namespace "$ns" --values "$stack/ci/node-values.yaml" \
  "$tags" --take-ownership --wait --timeout 5m
show kubectl --namespace "$ns" get pods -o wide

step "The NOTES' story through a port-forward"
# A demo run again starts without the maintenance that an interrupted run may have left.
kubectl --namespace "$ns" delete maint/db-upgrade --ignore-not-found --timeout=60s >/dev/null
kubectl --namespace "$ns" port-forward "svc/$release-users-service" "$port:8081" >/dev/null 2>&1 &
forward=$!
trap 'kill $forward 2>/dev/null || true' EXIT
expect 200
show curl -sS "http://127.0.0.1:$port/users"; echo
show "curl -sS -X POST http://127.0.0.1:$port/users -H 'content-type: application/json' \
  -d '{\"name\": \"Ada\", \"email\": \"ada-$RANDOM@example.com\"}'"; echo
show curl -sS "http://127.0.0.1:$port/health"; echo

step "Put it into maintenance with a Maintenance object"
show "kubectl --namespace $ns apply -f - <<'YAML'
apiVersion: kubemaint.io/v1alpha1
kind: Maintenance
metadata: {name: db-upgrade}
spec:
  service: users-service
  reason: \"Postgres upgrade\"
  retryAfterSeconds: 300
  readiness: {gate: false}
YAML"
show kubectl --namespace "$ns" wait --for=condition=Drained maint/db-upgrade --timeout=90s
expect 503
show "curl -si http://127.0.0.1:$port/users | sed -n 1,12p"; echo
show kubectl --namespace "$ns" delete maint/db-upgrade
expect 200
show "curl -si http://127.0.0.1:$port/users | sed -n 1p"

kill $forward 2>/dev/null || true
cat <<NEXT

The stack keeps running on the node. To use it:
  export KUBECONFIG=$KUBECONFIG
  export PATH=$("$root/scripts/cache-dir.sh")/bin:\$PATH
  kubectl --namespace $ns port-forward svc/$release-users-service $port:8081 &
  curl -s http://127.0.0.1:$port/users
Stop everything (the host is left as it was): make node-down
NEXT
