"""Helpers shared by the deployment-bundle tests: paths, chart scenarios and CRD adoption (the project's
helm is tests.support.cli.Helm). (A module of its own, not conftest.py, so that test modules can import it
by a unique name.)"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

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


def documents(manifest: str) -> list[dict[str, Any]]:
    """The non-empty YAML documents of a manifest stream."""
    return [doc for doc in yaml.safe_load_all(manifest) if doc]


def helm_kube_args(cluster: ControlPlane, namespace: str) -> list[str]:
    return ["--kubeconfig", str(cluster.kubeconfig), "--namespace", namespace]


TAKE_OWNERSHIP = "--take-ownership"
"""For ``helm install``: the session's CRDs were applied with kubectl first, as ``make demo`` does (and an
uninstalled release keeps its CRDs), so the release takes them over, as the operator chart's README says."""
