#!/usr/bin/env bash
# Copy the hand-written CRDs (k8s/base/crd/*.yaml) and the operator's ClusterRole
# (k8s/base/rbac/cluster_role.yaml) into the operator chart, verbatim, so Helm and kustomize install the
# very same objects. The Maintenance CRD and the ClusterRole go to files/, which the chart templates
# (crds.yaml, rbac.yaml: upgraded with every release); kopf's peering CRDs go to the chart's crds/ folder,
# which Helm applies before it renders anything, so the release's ClusterKopfPeering can be a plain template
# (charts/kubemaint-operator/README.md, "Upgrading the CRD").
#
# Usage: scripts/crd-sync.sh           copy (make crds)
#        scripts/crd-sync.sh --check   exit 1 and list the files that differ (make test runs it)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
chart=$root/charts/kubemaint-operator

# triples: source directory, glob, chart directory
pairs=(
  "$root/k8s/base/crd" "kubemaint.io_*.yaml" "$chart/files/crds"
  "$root/k8s/base/crd" "kopf.dev_*.yaml" "$chart/crds"
  "$root/k8s/base/rbac" "cluster_role.yaml" "$chart/files/rbac"
)

check=0
case ${1:-} in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: scripts/crd-sync.sh [--check]" >&2; exit 2 ;;
esac

drift=0
for ((i = 0; i < ${#pairs[@]}; i += 3)); do
  src=${pairs[i]} glob=${pairs[i + 1]} dst=${pairs[i + 2]}
  mapfile -t files < <(cd "$src" && compgen -G "$glob" | sort)
  [ ${#files[@]} -gt 0 ] || { echo "crd-sync: nothing matches $src/$glob" >&2; exit 1; }
  if [ $check = 1 ]; then
    for f in "${files[@]}"; do
      cmp -s "$src/$f" "$dst/$f" || { echo "crd-sync: ${dst#"$root"/}/$f differs from ${src#"$root"/}/$f" >&2; drift=1; }
    done
    # A file left in the chart folder (each is the copies' alone) that has no source is drift too.
    for f in $(cd "$dst" 2>/dev/null && compgen -G "*.yaml" | sort); do
      [[ " ${files[*]} " == *" $f "* ]] || { echo "crd-sync: ${dst#"$root"/}/$f has no source in ${src#"$root"/}/" >&2; drift=1; }
    done
  else
    mkdir -p "$dst"
    rm -f "$dst"/*.yaml  # the folder holds these copies only
    for f in "${files[@]}"; do cp "$src/$f" "$dst/$f"; done
    echo "crd-sync: copied ${#files[@]} file(s) from ${src#"$root"/}/ to ${dst#"$root"/}/"
  fi
done
if [ $drift = 1 ]; then
  echo "crd-sync: the chart's copies drifted; run scripts/crd-sync.sh (make crds)" >&2
  exit 1
fi
[ $check = 1 ] && echo "crd-sync: chart copies match k8s/base"
exit 0
