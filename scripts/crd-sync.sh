#!/usr/bin/env bash
# Copy the hand-written CRDs (k8s/base/crd/*.yaml) and the operator's ClusterRole
# (k8s/base/rbac/cluster_role.yaml) into the operator chart (charts/kubemaint-operator/files/), verbatim.
# The chart templates them (crds.yaml, rbac.yaml), so Helm and kustomize install the very same objects.
#
# Usage: scripts/crd-sync.sh           copy (make crds)
#        scripts/crd-sync.sh --check   exit 1 and list the files that differ (make test runs it)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
chart=$root/charts/kubemaint-operator/files

# pairs: source directory, glob, chart directory
pairs=(
  "$root/k8s/base/crd" "*.yaml" "$chart/crds"
  "$root/k8s/base/rbac" "cluster_role.yaml" "$chart/rbac"
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
    # A file left in the chart that no longer exists in k8s/ is drift too.
    for f in $(cd "$dst" 2>/dev/null && compgen -G "$glob" | sort); do
      [ -f "$src/$f" ] || { echo "crd-sync: ${dst#"$root"/}/$f has no source in ${src#"$root"/}/" >&2; drift=1; }
    done
  else
    mkdir -p "$dst"
    # shellcheck disable=SC2086  # $glob is a pattern on purpose: remove the old copies it matches
    rm -f "$dst"/$glob
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
