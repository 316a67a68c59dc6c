#!/usr/bin/env bash
# The static checks, the one list of them: ruff, mypy (strict), the layering contracts (import-linter), the
# CRD copy check, the charts' generated READMEs and the chart scan. `make lint` runs this; scripts/test.sh
# (`make test`) runs it before pytest. The Python tools run --frozen: from uv.lock, never re-resolved.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
echo "== ruff"; uv run --frozen ruff check . && uv run --frozen ruff format --check .
echo "== mypy (strict)"; uv run --frozen mypy
echo "== layering (import-linter)"; uv run --frozen lint-imports
echo "== CRD copies"; scripts/crd-sync.sh --check
echo "== chart READMEs (helm-docs)"; scripts/chart-docs.sh --check
echo "== chart scan (checkov)"; scripts/chart-scan.sh
