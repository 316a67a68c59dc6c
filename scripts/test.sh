#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it: install what is missing, then static checks
# (ruff, mypy strict, the layering contracts, the CRD copy check) and every pytest tier. The test fixtures
# start and stop PostgreSQL, etcd and the Kubernetes control plane themselves; nothing is left running.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$("$root/scripts/cache-dir.sh")/bin:$HOME/.local/bin:$PATH"

scripts/bootstrap.sh etcd helm k8s node tilt

echo "== ruff"; uv run --frozen ruff check . && uv run --frozen ruff format --check .
echo "== mypy (strict)"; uv run --frozen mypy
echo "== layering (import-linter)"; uv run --frozen lint-imports
if [ -x scripts/crd-sync.sh ]; then echo "== CRD copies"; scripts/crd-sync.sh --check; fi
echo "== chart scan (checkov)"; scripts/chart-scan.sh
echo "== pytest"
uv run --frozen pytest "$@"
