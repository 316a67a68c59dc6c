#!/usr/bin/env bash
# Build the Go tools that the tests and the demo need, from pinned Go module versions, into the user's
# cache folder ${KUBEMAINT_CACHE:-${XDG_CACHE_HOME:-~/.cache}/kubemaint} (binaries in bin/, Go build and
# module caches beside them), so every clone on a machine, CI's included, shares one build. A tool already
# built at the pinned version (its stamp bin/.NAME.version) is reused: only the first run pays the build.
# Nothing is ever downloaded from a release site: everything comes from the Go module proxy.
#
# Usage: scripts/build-tools.sh [etcd] [helm] [helm-docs] [k8s] [node] [coredns] [tilt] [bombardier]
#        (no argument: etcd helm k8s)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=$("$root/scripts/cache-dir.sh")
bin=$cache/bin
mkdir -p "$bin"
export GOCACHE=$cache/go-build GOMODCACHE=$cache/go-mod GOFLAGS=-modcacherw GOTOOLCHAIN=local CGO_ENABLED=0

HELM_VERSION=v3.22.0
TILT_VERSION=v0.37.6
BOMBARDIER_VERSION=v1.2.6

log() { printf '[build-tools] %s\n' "$*" >&2; }

# stamp NAME VERSION: true when $bin/NAME was built at VERSION.
built() { [ -x "$bin/$1" ] && [ "$(cat "$bin/.$1.version" 2>/dev/null)" = "$2" ]; }
mark() { echo "$2" > "$bin/.$1.version"; }

timed() {
  local start=$SECONDS
  "$@"
  log "$1 ${2:-}: $((SECONDS - start)) s"
}

build_etcd() {
  local v; v=$(awk '/go.etcd.io\/etcd\/server\/v3 v/ {print $2; exit}' "$root/tools/etcd/go.mod")
  if built etcd "$v" && built etcdctl "$v"; then return; fi
  log "building etcd and etcdctl $v"
  (cd "$root/tools/etcd" && go build -trimpath -o "$bin/etcd" go.etcd.io/etcd/server/v3 \
      && go build -trimpath -o "$bin/etcdctl" go.etcd.io/etcd/etcdctl/v3)
  mark etcd "$v"; mark etcdctl "$v"
}

build_helm() {
  if built helm "$HELM_VERSION"; then return; fi
  log "building helm $HELM_VERSION"
  GOBIN=$bin go install -trimpath \
    -ldflags "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  mark helm "$HELM_VERSION"
}

# k8s_components NAME...: build the named k8s.io/kubernetes commands at tools/k8s/VERSION.
k8s_components() {
  local v; v=$(cat "$root/tools/k8s/VERSION")
  local minor=${v#v1.}; minor=${minor%%.*}
  local ld="" pkg c
  # Stamp the version like the release build does, or /version says v0.0.0 and kubeVersion checks break.
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  for c in "$@"; do
    built "$c" "$v" && continue
    log "building $c $v (a cold build takes many minutes on 2 cores)"
    (cd "$root/tools/k8s" && go build -trimpath -ldflags "-s -w$ld" -o "$bin/$c" "k8s.io/kubernetes/cmd/$c")
    mark "$c" "$v"
  done
}

build_k8s() { k8s_components kube-apiserver kube-controller-manager kubectl; }

# The node: kubelet, kube-proxy and kube-scheduler from the same wrapper module, containerd (with its runc
# shim and ctr) and CoreDNS from their own. runc and the CNI plugins come from Debian (bootstrap.sh node).
build_node() {
  k8s_components kube-scheduler kubelet kube-proxy
  build_coredns
  local v c
  v=$(awk '$1 == "github.com/containerd/containerd/v2" {print $2; exit}' "$root/tools/containerd/go.mod")
  for c in containerd containerd-shim-runc-v2 ctr; do
    built "$c" "$v" && continue
    log "building $c $v"
    # The storage drivers that need cgo or kernel headers are left out; the node uses overlayfs.
    (cd "$root/tools/containerd" && go build -trimpath -tags "no_btrfs no_devmapper no_zfs" \
        -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=${v#v}" \
        -o "$bin/$c" "github.com/containerd/containerd/v2/cmd/$c")
    mark "$c" "$v"
  done
}

# CoreDNS, for the node's cluster DNS (cluster.local only; there is no upstream to forward to).
build_coredns() {
  local v; v=$(awk '$1 == "github.com/coredns/coredns" {print $2; exit}' "$root/tools/coredns/go.mod")
  built coredns "$v" && return
  log "building coredns $v"
  (cd "$root/tools/coredns" && go build -trimpath -ldflags "-s -w" -o "$bin/coredns" github.com/coredns/coredns)
  mark coredns "$v"
}

build_helm_docs() {
  local v; v=$(awk '$1 == "github.com/norwoodj/helm-docs" {print $2}' "$root/tools/helm-docs/go.mod")
  if built helm-docs "$v"; then return; fi
  log "building helm-docs $v"
  (cd "$root/tools/helm-docs" && go build -trimpath -ldflags "-s -w" -o "$bin/helm-docs" \
      github.com/norwoodj/helm-docs/cmd/helm-docs)
  mark helm-docs "$v"
}

build_tilt() {
  # The stamp names the build, not only the version: this one embeds tools/tilt/web/index.html.
  local stamp="$TILT_VERSION+page-$(sha256sum "$root/tools/tilt/web/index.html" | cut -c1-12)"
  if built tilt "$stamp"; then return; fi
  log "building tilt $TILT_VERSION"
  # Tilt's web UI is a JavaScript build (yarn, about 1 GB of npm packages) that the Go module does not
  # carry, and without an embedded index.html `tilt up` and `tilt ci` refuse to start. So the module is
  # vendored into a scratch folder of the cache, tools/tilt/web/index.html (a page that points to the
  # terminal commands) goes where the UI would be embedded, and tilt is built from there.
  local work="$cache/tilt-build"
  rm -rf "$work" && mkdir -p "$work"
  cp "$root/tools/tilt/go.mod" "$root/tools/tilt/go.sum" "$work/"
  (cd "$work" && go mod vendor)
  local assets="$work/vendor/github.com/tilt-dev/tilt/pkg/assets/build"
  mkdir -p "$assets" && cp "$root/tools/tilt/web/index.html" "$assets/index.html"
  # cgo: tilt's Tiltfile language server parses with tree-sitter (C). ldflags: what goreleaser stamps.
  (cd "$work" && CGO_ENABLED=1 go build -mod=vendor -trimpath \
      -ldflags "-s -w -X main.version=${TILT_VERSION#v} -X main.date=1970-01-01" \
      -o "$bin/tilt" github.com/tilt-dev/tilt/cmd/tilt)
  rm -rf "$work"
  mark tilt "$stamp"
}

# The HTTP load generator of bench/service_throughput.py (fasthttp; a Python client would be the bottleneck).
build_bombardier() {
  if built bombardier "$BOMBARDIER_VERSION"; then return; fi
  log "building bombardier $BOMBARDIER_VERSION"
  GOBIN=$bin go install -trimpath "github.com/codesenberg/bombardier@$BOMBARDIER_VERSION"
  mark bombardier "$BOMBARDIER_VERSION"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(etcd helm k8s)
for t in "${targets[@]}"; do
  case $t in
    etcd|helm|k8s|node|coredns|tilt|bombardier) timed "build_$t" ;;
    helm-docs) timed build_helm_docs ;;
    *) echo "build-tools.sh: unknown tool '$t' (etcd, helm, helm-docs, k8s, node, coredns, tilt, bombardier)" >&2; exit 2 ;;
  esac
done
log "tools are in $bin"
