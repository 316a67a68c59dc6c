"""Helpers shared by the deployment-bundle tests: paths, chart scenarios, the project's helm, and CRD
adoption. (A module of its own, not conftest.py, so that test modules can import it by a unique name.)"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from kubemaint_devstack.tools import find_tool

if TYPE_CHECKING:
    from kubemaint_devstack.controlplane import ControlPlane

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "charts"
STACK = "kubemaint-stack"
CHART_NAMES = ("kubemaint-operator", "users-service", "postgres", "etcd", STACK)
APP_CHARTS = frozenset({"users-service", "kubemaint-operator", STACK})  # deploy the service or the operator


@dataclass(frozen=True)
class Scenario:
    """One chart with one of its ci/ values files."""

    chart: str
    values: Path

    @property
    def path(self) -> Path:
        return CHARTS / self.chart

    @property
    def id(self) -> str:
        return f"{self.chart}:{self.values.name.removesuffix('-values.yaml')}"


def all_scenarios() -> list[Scenario]:
    return [
        Scenario(chart, values)
        for chart in CHART_NAMES
        for values in sorted((CHARTS / chart / "ci").glob("*-values.yaml"))
    ]


class Helm:
    """The project's helm binary with its own cache/config folders (nothing written to $HOME)."""

    def __init__(self, home: Path) -> None:
        self.binary = find_tool("helm", prefer_cache=True)
        self.env = {
            **os.environ,
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }

    def run(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.binary, *map(str, args)],
            env=self.env, capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(map(str, args))} failed:\n{result.stderr}")
        return result

    def template(self, scenario: Scenario, namespace: str, release: str = "kmtest") -> str:
        return self.run(
            "template", release, scenario.path, "--namespace", namespace, "--values", scenario.values
        ).stdout


def documents(manifest: str) -> list[dict[str, Any]]:
    """The non-empty YAML documents of a manifest stream."""
    return [doc for doc in yaml.safe_load_all(manifest) if doc]


def helm_kube_args(cluster: ControlPlane, namespace: str) -> list[str]:
    return ["--kubeconfig", str(cluster.kubeconfig), "--namespace", namespace]


TAKE_OWNERSHIP = "--take-ownership"
"""For ``helm install``: the session's CRDs were applied with kubectl first, as ``make demo`` does (and an
uninstalled release keeps its CRDs), so the release takes them over, as the operator chart's README says."""
