"""The kind e2e tier: tests/e2e/kind_e2e.sh on a machine with a Docker engine and kind.

Skipped, with the reason printed, where `docker info` fails or kind is missing: nothing else is skipped.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from kubemaint_devstack.tools import cache_dir

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "e2e" / "kind_e2e.sh"


def _docker_problem() -> str | None:
    """Why the kind tier cannot run here, or None when it can."""
    docker = shutil.which("docker")
    if docker is None:
        return "docker is not installed"
    try:
        info = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 30 s"
    if info.returncode != 0:
        lines = [line.strip() for line in (info.stderr or info.stdout).splitlines() if line.strip()]
        return f"`docker info` failed: {lines[-1] if lines else 'exit ' + str(info.returncode)}"
    if shutil.which("kind") is None and not (cache_dir() / "bin" / "kind").is_file():
        return f"kind is missing (GOBIN={cache_dir() / 'bin'} go install sigs.k8s.io/kind@v0.33.0)"
    return None


@pytest.mark.e2e
@pytest.mark.timeout(1800)
def test_bundle_on_kind() -> None:
    problem = _docker_problem()
    if problem is not None:
        reason = f"Docker engine not available: {problem}"
        sys.stderr.write(reason + "\n")
        pytest.skip(reason)
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=1700, check=False)
    sys.stdout.write(result.stdout[-8000:])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "[e2e] passed" in result.stdout
