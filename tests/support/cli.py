"""Command lines run as subprocesses, the way a person runs them: the kubemaint CLI, the devstack CLI,
kubectl and helm. Output is captured as text and never checked here unless asked: the test looks at the
exit code and stderr it expects."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from kubemaint_devstack.tools import find_tool


def run(
    argv: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float = 60,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (environment ``env``, else this process's) and return what it did; never raises on a
    non-zero exit. ``timeout`` s only stops a hang."""
    return subprocess.run(
        [str(arg) for arg in argv], env=env, input=input, cwd=cwd,
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def kubemaint(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``kubemaint ARGS`` (the library's CLI) with this process's environment minus every ``ETCD_*``
    variable, plus ``env``: the test says which etcd, credentials and TLS files the command sees."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("ETCD_")}
    return run([sys.executable, "-m", "kubemaint.cli", *args], env={**inherited, **env})


def devstack(
    directory: Path, *args: str, timeout: float = 120, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """``devstack --dir DIRECTORY ARGS`` (the local stack's CLI); with ``check``, a failure is an
    AssertionError that shows its stderr."""
    result = run([sys.executable, "-m", "kubemaint_devstack.cli", "--dir", directory, *args], timeout=timeout)
    assert not check or result.returncode == 0, f"devstack {' '.join(args)}:\n{result.stderr}"
    return result


def kubectl_argv(kubeconfig: Path, *args: str) -> list[str]:
    """A command line of the project's kubectl for the cluster behind ``kubeconfig``."""
    return [str(find_tool("kubectl", prefer_cache=True)), "--kubeconfig", str(kubeconfig), *args]


def run_kubectl(
    kubeconfig: Path, *args: str, input: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """kubectl whose exit code the caller looks at (a refusal, a "no", a cluster that is gone)."""
    return run(kubectl_argv(kubeconfig, *args), input=input, timeout=timeout)


class Chart(Protocol):
    """A chart with one of its values files (the bundle tests' scenarios)."""

    @property
    def path(self) -> Path: ...

    @property
    def values(self) -> Path: ...


class Helm:
    """The project's helm binary with its own cache/config folders under ``home`` (nothing written to
    $HOME); against the cluster of ``kubeconfig`` when given, else of $KUBECONFIG or ``--kubeconfig``."""

    def __init__(self, home: Path, kubeconfig: Path | None = None) -> None:
        self.binary = find_tool("helm", prefer_cache=True)
        self.env = {
            **os.environ,
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }
        if kubeconfig is not None:
            self.env["KUBECONFIG"] = str(kubeconfig)

    def run(
        self, *args: str | Path, check: bool = True, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        """``helm ARGS``; with ``check``, a failure is an AssertionError that shows helm's output."""
        result = run([self.binary, *args], env=self.env, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(map(str, args))} failed:\n{result.stderr}\n{result.stdout}")
        return result

    def template(self, chart: Chart, namespace: str, release: str = "kmtest") -> str:
        """The manifest of ``chart`` rendered with its values file."""
        return self.run(
            "template", release, chart.path, "--namespace", namespace, "--values", chart.values
        ).stdout
