#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it: install what is missing, then the static checks
# (scripts/lint.sh: ruff, mypy strict, the layering contracts, the CRD copy check, the chart scan) and every
# pytest tier. The test fixtures start and stop PostgreSQL, etcd, the Kubernetes control plane and the
# node themselves; nothing is left running.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$("$root/scripts/cache-dir.sh")/bin:$HOME/.local/bin:$PATH"

scripts/bootstrap.sh etcd helm helm-docs k8s node tilt

scripts/lint.sh
echo "== pytest"
uv run --frozen pytest "$@"
