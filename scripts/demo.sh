#!/usr/bin/env bash
# The main job: a local kubemaint stack without Docker, and a walk through maintenance on it.
#
# Starts PostgreSQL, etcd and a real Kubernetes control plane (kube-apiserver, kube-controller-manager)
# as local processes, applies the CRD and RBAC, runs the operator and the users service, then tells the
# seed's story twice: by hand with the `kubemaint` CLI, and the Kubernetes way with a Maintenance object.
# Everything is left running for the reader; `make demo-down` (scripts/demo.sh down) stops it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=$("$root/scripts/cache-dir.sh")/bin
export PATH="$bin:$HOME/.local/bin:$PATH"
run=$root/.run/demo
port=${PORT:-8081}

stop_pid() {
  local f=$1
  [ -f "$f" ] || return 0
  local pid; pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

down() {
  stop_pid "$run/users-service.pid"
  stop_pid "$run/operator.pid"
  uv run --frozen devstack down || true
  echo "demo stack stopped"
}

if [ "${1:-}" = "down" ]; then down; exit 0; fi

# expect CODE: wait (10 s at most) until GET /users answers CODE, or stop the demo saying what went wrong.
expect() {
  local code=""
  for _ in $(seq 1 50); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/users") || true
    [ "$code" = "$1" ] && return 0
    sleep 0.2
  done
  echo "demo: expected HTTP $1 from /users, got $code (logs: .run/demo/)" >&2
  exit 1
}
step() { printf '\n\033[1;36m== %s\033[0m\n' "$*"; }
show() { printf '\033[2m$ %s\033[0m\n' "$*"; eval "$@"; }

step "Installing what is missing (uv, PostgreSQL, Python workspace, etcd, helm, control plane)"
scripts/bootstrap.sh etcd helm k8s

step "Starting PostgreSQL, etcd and the Kubernetes control plane"
down >/dev/null 2>&1 || true
mkdir -p "$run"
uv run --frozen devstack up --control-plane
eval "$(uv run --frozen devstack env)"

step "Installing the Maintenance CRD, the operator's RBAC and its peering object"
show kubectl apply --server-side -f k8s/base/crd/
kubectl wait --for=condition=Established crd/maintenances.kubemaint.io --timeout=60s >/dev/null
ns=$(awk '/namespace:/ {print $2; exit}' k8s/base/rbac/service_account.yaml)
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
show kubectl apply --server-side -f k8s/base/rbac/
show kubectl apply --server-side -f k8s/base/peering/

step "Starting the operator and the users service (local processes, logs in .run/demo/)"
setsid nohup uv run --frozen kubemaint-operator >"$run/operator.log" 2>&1 < /dev/null &
echo $! > "$run/operator.pid"
PORT=$port SERVICE_NAME=users-service setsid nohup uv run --frozen users-service \
  >"$run/users-service.log" 2>&1 < /dev/null &
echo $! > "$run/users-service.pid"
for _ in $(seq 1 150); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || { tail -n 30 "$run/users-service.log"; exit 1; }

base="http://127.0.0.1:$port"
step "The service is up: list the users"
show curl -sS "$base/users"; echo
step "Create one"
show "curl -sS -i -X POST $base/users -H 'Content-Type: application/json' -d '{\"name\": \"Ada Lovelace\", \"email\": \"ada-$RANDOM@example.com\"}'"; echo

step "Maintenance on, by hand (the GoMaint way, through etcd)"
show uv run --frozen kubemaint on users-service --reason "'demo: schema change'" --for 10m --retry-after 120
expect 503
show curl -sS -i "$base/users"; echo
step "Maintenance off"
show uv run --frozen kubemaint off users-service
expect 200
show "curl -sS -o /dev/null -w 'HTTP %{http_code}\n' $base/users"

step "Maintenance the Kubernetes way: apply a Maintenance object"
show kubectl apply -f k8s/samples/immediate.yaml
expect 503
show curl -sS -i "$base/users"; echo
show kubectl get maintenances -A
kubectl wait --for=condition=Drained maint/users-now --timeout=30s >/dev/null
show "kubectl get maint users-now -o jsonpath='{range .status.conditions[*]}{.type}={.status} {end}{\"\\n\"}'"
show uv run --frozen kubemaint status users-service
step "Delete it: the service answers again"
show kubectl delete -f k8s/samples/immediate.yaml --wait=true
expect 200
show "curl -sS -o /dev/null -w 'HTTP %{http_code}\n' $base/users"

step "Everything is still running. Try it yourself:"
echo "  export PATH=$bin:\$PATH"
uv run --frozen devstack env | sed 's/^/  /'
cat <<EOT
  curl -i $base/users
  uv run kubemaint on users-service --reason "upgrade" --for 30m   # or: etcdctl put /maintenance/users-service true
  uv run kubemaint status users-service
  uv run kubemaint off users-service
  kubectl apply -f k8s/samples/read-only.yaml && kubectl get maint -A
  curl -s $base/stats
  logs: .run/demo/operator.log .run/demo/users-service.log
  stop: make demo-down
  helm on this cluster: the CRDs above were applied with kubectl, so install with --take-ownership
EOT
