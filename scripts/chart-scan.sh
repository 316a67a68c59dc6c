#!/usr/bin/env bash
# Scan what the charts render with checkov (pinned in tools/chartscan/, its own uv project): every chart's
# ci/*-values.yaml scenario, the defaults included, as `helm template` renders it. Prints the failed checks
# and exits 1 on any; `make test` runs it after the CRD copy check (`make chart-scan` alone).
#
# Nothing leaves the machine: checkov runs in a network namespace of its own (`unshare --net`) with
# --skip-download, since it otherwise fetches guideline mappings from Prisma Cloud and checks PyPI for a newer
# version. Where unshare is not allowed it runs without one, with those downloads switched off.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cache=$("$root/scripts/cache-dir.sh")
export PATH="$cache/bin:$HOME/.local/bin:$PATH"

# Checks set aside for every scenario, on purpose:
skip=(
  CKV_K8S_43 # image digests: the charts install the tag of their appVersion (or the user's); pinning a digest
  #            is the release pipeline's job, and Tilt/kind load local images that have none.
  CKV_K8S_15 # imagePullPolicy Always: IfNotPresent is what kind/Tilt-loaded images need; release tags are
  #            never re-pushed, and users can set image.pullPolicy.
  CKV_K8S_11 # CPU limits: CFS throttling turns bursts into latency (and etcd into missed heartbeats); every
  #            container has a CPU request and a memory limit instead.
)
# And for single scenarios, which turn on what the defaults leave off (chart:scenario=checks):
accept=(
  # MAINTENANCE_BYPASS_SECRET and ETCD_USERNAME/ETCD_PASSWORD still come from Secrets as variables when the
  # bypass or etcd authentication is enabled; the defaults use neither.
  users-service:external=CKV_K8S_35
  users-service:gated=CKV_K8S_35
  kubemaint-operator:standalone=CKV_K8S_35
  # Tilt's live_update syncs the sources into the running containers: a writable root filesystem, dev only.
  kubemaint-stack:dev=CKV_K8S_22
)

checkov_env=(env CKV_SKIP_PACKAGE_UPDATE_CHECK=true BC_SKIP_MAPPING=TRUE)
if unshare --net true 2>/dev/null; then
  isolate=(unshare --net)
elif unshare --net --map-root-user true 2>/dev/null; then
  isolate=(unshare --net --map-root-user)
else
  echo "chart-scan: note: unshare is not available here; checkov runs with the network (downloads off)" >&2
  isolate=()
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HELM_CACHE_HOME=$work/helm/cache HELM_CONFIG_HOME=$work/helm/config HELM_DATA_HOME=$work/helm/data
export UV_PROJECT_ENVIRONMENT=$cache/chartscan-venv # outside the repository; kept between runs

uv sync --quiet --frozen --project tools/chartscan
checkov=$UV_PROJECT_ENVIRONMENT/bin/checkov

# A copy of the charts, so that the umbrella's built dependencies (charts/*/charts/) stay out of the tree.
cp -r charts "$work/charts"
rm -rf "$work"/charts/*/charts "$work"/charts/*/Chart.lock
helm dependency build "$work/charts/kubemaint-stack" >/dev/null

mkdir "$work/render"
for chart_dir in "$work"/charts/*/; do
  chart=$(basename "$chart_dir")
  for values in "$chart_dir"ci/*-values.yaml; do
    helm template scan "$chart_dir" --namespace scan --values "$values" \
      >"$work/render/$chart--$(basename "$values" -values.yaml).yaml"
  done
done

# One checkov run for every render (most of its time is start-up); exit code 1 just means "failures".
skips=$(IFS=,; echo "${skip[*]}")
"${isolate[@]}" "${checkov_env[@]}" "$checkov" --directory "$work/render" --framework kubernetes \
  --skip-download --quiet --output json --skip-check "$skips" >"$work/report.json" 2>"$work/checkov.err" || true
if ! [ -s "$work/report.json" ]; then
  echo "chart-scan: checkov wrote no report:" >&2
  cat "$work/checkov.err" >&2
  exit 1
fi
echo "chart-scan: $(find "$work/render" -name '*.yaml' | wc -l) renders (every chart's ci/*-values.yaml)"
"$UV_PROJECT_ENVIRONMENT/bin/python" tools/chartscan/report.py "$work/report.json" --seconds "$SECONDS" \
  "${accept[@]/#/--accept=}"
