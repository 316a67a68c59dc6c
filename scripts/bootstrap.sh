#!/usr/bin/env bash
# Install what the tests and the demo need on a fresh machine, skipping whatever is already there:
# uv, PostgreSQL (Debian packages), the Python workspace (uv.lock, frozen), and the Go-built tools
# (etcd, helm, kube-apiserver, kube-controller-manager, kubectl) in the user's cache (scripts/cache-dir.sh);
# with the target "node", also the node's binaries and Debian packages.
#
# Usage: scripts/bootstrap.sh [build-tools targets...]   (default: etcd helm k8s)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log() { printf '[bootstrap] %s\n' "$*" >&2; }

if ! command -v uv >/dev/null 2>&1; then
  log "installing uv from PyPI"
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
  export PATH="$HOME/.local/bin:$PATH"
fi

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ -z "$(pg_bin)" ] && ! command -v initdb >/dev/null 2>&1; then
  log "installing PostgreSQL from Debian packages"
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
fi

# The local node (build-tools target "node") runs containers with Debian's runc and CNI plugins, bridges
# the API server with socat, builds its pause and busybox images with gcc and busybox-static, and the
# project's images with buildah from a debootstrap base.
node_packages=(runc containernetworking-plugins socat iptables busybox-static gcc libc6-dev buildah debootstrap)
node_missing() {
  [ -x /usr/sbin/runc ] && [ -x /usr/lib/cni/bridge ] && [ -x /bin/busybox ] \
    && command -v socat >/dev/null && command -v iptables >/dev/null && command -v gcc >/dev/null \
    && command -v buildah >/dev/null && command -v debootstrap >/dev/null && return 1
  return 0
}
if [[ " $* " == *" node "* ]] && node_missing; then
  log "installing the node's Debian packages: ${node_packages[*]}"
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${node_packages[@]}" >/dev/null
fi

if ! command -v go >/dev/null 2>&1; then
  echo "bootstrap: Go is required to build etcd, helm and the control plane (install Go >= 1.26)" >&2
  exit 1
fi

log "syncing the Python workspace (uv.lock)"
uv sync --frozen --quiet

scripts/build-tools.sh "$@"
