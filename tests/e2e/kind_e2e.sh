#!/usr/bin/env bash
# The bundle on a real cluster: kind, the two images built and loaded, the kubemaint-stack chart installed,
# then the seed's curl story and a Maintenance applied with kubectl: 503 + Retry-After, the pods NotReady
# through the kubemaint.io/serving gate, the Service's EndpointSlice without a ready endpoint; deleted:
# everything recovers. The cluster is deleted at the end (KEEP_CLUSTER=1 keeps it).
#
# Needs: a Docker engine, kind, helm and kubectl on PATH (or in the tool cache's bin/: scripts/build-tools.sh helm k8s;
# kind: GOBIN=$(scripts/cache-dir.sh)/bin go install sigs.k8s.io/kind@v0.33.0).
# Usage: tests/e2e/kind_e2e.sh        (pytest -m e2e tests/e2e runs it)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export PATH=$("$root/scripts/cache-dir.sh")/bin:$PATH
cluster=${KIND_CLUSTER:-kubemaint-e2e}
ns=kubemaint
release=kubemaint
tag=e2e
port=${E2E_PORT:-18081}
svc=$release-users-service
selector=app.kubernetes.io/instance=$release,app.kubernetes.io/name=users-service
ctx=kind-$cluster
k() { kubectl --context "$ctx" --namespace "$ns" "$@"; }
step() { printf '\n[e2e] %s\n' "$*"; }
fail() { printf '[e2e] FAILED: %s\n' "$*" >&2; exit 1; }

pf_pid=""
cleanup() {
  [ -n "$pf_pid" ] && kill "$pf_pid" 2>/dev/null || true
  if [ "${KEEP_CLUSTER:-0}" != 1 ]; then kind delete cluster --name "$cluster" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

docker info >/dev/null 2>&1 || fail "Docker engine not available"
command -v kind >/dev/null || fail "kind is missing"

step "kind cluster $cluster"
kind get clusters 2>/dev/null | grep -qx "$cluster" || kind create cluster --name "$cluster" --wait 180s

step "images"
docker build -q -t kubemaint/users-service:$tag -f "$root/service/Dockerfile" "$root"
docker build -q -t kubemaint/operator:$tag -f "$root/operator/Dockerfile" "$root"
kind load docker-image --name "$cluster" kubemaint/users-service:$tag kubemaint/operator:$tag

step "helm install kubemaint-stack"
helm dependency build "$root/charts/kubemaint-stack" >/dev/null
helm --kube-context "$ctx" install "$release" "$root/charts/kubemaint-stack" --namespace "$ns" --create-namespace \
  --set users-service.image.tag=$tag --set kubemaint-operator.image.tag=$tag --wait --timeout 6m
k wait --for=condition=Ready pod -l "$selector" --timeout=180s
helm --kube-context "$ctx" test "$release" --namespace "$ns" --timeout 3m

step "port-forward and the seed's curl story"
k port-forward "svc/$svc" "$port:8081" >/dev/null 2>&1 &
pf_pid=$!
base=http://127.0.0.1:$port
for _ in $(seq 1 50); do curl -sf "$base/livez" >/dev/null && break; sleep 0.2; done
curl -sf "$base/users" | grep -q '^\[' || fail "GET /users is not a JSON array"
created=$(curl -sf -X POST "$base/users" -H 'content-type: application/json' \
  -d '{"name": "E2E User", "email": "e2e-'$RANDOM'@example.com"}')
id=$(printf '%s' "$created" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
curl -sf "$base/users/$id" >/dev/null || fail "GET /users/$id"
curl -sf -X PUT "$base/users/$id" -H 'content-type: application/json' \
  -d '{"name": "E2E Renamed", "email": "e2e-renamed-'$RANDOM'@example.com"}' >/dev/null || fail "PUT /users/$id"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/users/999999999")
[ "$code" = 404 ] || fail "unknown id answered $code, not 404"

step "kubectl apply a Maintenance"
k apply -f - <<'YAML'
apiVersion: kubemaint.io/v1alpha1
kind: Maintenance
metadata: {name: e2e-upgrade}
spec:
  service: users-service
  reason: "e2e: Postgres upgrade"
  retryAfterSeconds: 120
  readiness: {gate: true}
YAML
k wait --for=condition=Drained maint/e2e-upgrade --timeout=90s
headers=$(curl -s -D - -o /dev/null "$base/users")
printf '%s\n' "$headers" | head -1 | grep -q ' 503' || fail "expected 503 during maintenance: $headers"
printf '%s\n' "$headers" | grep -qi '^retry-after: *[0-9]' || fail "no Retry-After: $headers"
k wait --for=condition=Ready=false pod -l "$selector" --timeout=60s
gates=$(k get pods -l "$selector" -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="kubemaint.io/serving")].status}{" "}{end}')
[ -z "$(printf '%s' "$gates" | tr -d 'False ')" ] || fail "gate conditions not all False: $gates"
ready_eps() {
  k get endpointslices -l "kubernetes.io/service-name=$svc" \
    -o jsonpath='{range .items[*].endpoints[?(@.conditions.ready==true)]}{.addresses[0]}{" "}{end}'
}
for _ in $(seq 1 60); do [ -z "$(ready_eps)" ] && break; sleep 1; done
[ -z "$(ready_eps)" ] || fail "EndpointSlice still has ready endpoints: $(ready_eps)"
k get maint e2e-upgrade

step "delete it: everything recovers"
k delete maint e2e-upgrade --timeout=60s
k wait --for=condition=Ready pod -l "$selector" --timeout=90s
for _ in $(seq 1 60); do [ -n "$(ready_eps)" ] && break; sleep 1; done
[ -n "$(ready_eps)" ] || fail "EndpointSlice has no ready endpoint after the maintenance"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/users")
[ "$code" = 200 ] || fail "GET /users answered $code after the maintenance"
curl -sf -X DELETE "$base/users/$id" -o /dev/null || fail "DELETE /users/$id"

step "helm uninstall"
helm --kube-context "$ctx" uninstall "$release" --namespace "$ns" --wait
echo "[e2e] passed"
