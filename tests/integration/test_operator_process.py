"""``kubemaint-operator`` with a bad environment variable: one line naming it on stderr, exit code 2.

A real process (settings are read before kopf or any cluster is touched, so no server is needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

OPERATOR = str(Path(sys.executable).parent / "kubemaint-operator")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ETCD_ENDPOINTS", "http://127.0.0.1:99999"),
        ("RESYNC_SECONDS", "often"),
    ],
)
def test_a_bad_variable_stops_the_operator_with_one_line_and_exit_2(variable: str, value: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ETCD_", "KUBECONFIG"))}
    done = subprocess.run(
        [OPERATOR], env={**env, variable: value}, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("kubemaint-operator: invalid configuration:")
    assert variable in lines[0]
    assert "Traceback" not in done.stderr
