"""Fixtures for the deployment-bundle tests: the built helm and kubectl, chart scenarios, and the session's
control plane with the CRDs installed.

Every chart's ``ci/*-values.yaml`` is one scenario; a test that takes ``scenario`` runs once per scenario,
one that takes ``app_scenario`` once per scenario of the charts that deploy the service or the operator.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from bundlekit import APP_CHARTS, CHARTS, ROOT, STACK, all_scenarios
from kubemaint_devstack.tools import find_tool

from tests.support.cli import Helm

if TYPE_CHECKING:
    from kubemaint_devstack.controlplane import ControlPlane


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for name, scenarios in (
        ("scenario", all_scenarios()),
        ("app_scenario", [s for s in all_scenarios() if s.chart in APP_CHARTS]),
    ):
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, scenarios, ids=[s.id for s in scenarios])


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """helm, with the umbrella chart's file:// dependencies built once (charts/kubemaint-stack/charts/)."""
    tool = Helm(tmp_path_factory.mktemp("helm-home"))
    tool.run("dependency", "build", CHARTS / STACK)
    return tool


@pytest.fixture(scope="session")
def kubectl_binary() -> Path:
    return find_tool("kubectl", prefer_cache=True)


# The prometheus-operator ServiceMonitor CRD, reduced to its name and an open schema: a stand-in so that
# the API server knows the kind when a scenario enables serviceMonitor. Only the kind's existence matters
# to a dry run; clusters get the real CRD from prometheus-operator.
SERVICEMONITOR_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {
        "group": "monitoring.coreos.com",
        "scope": "Namespaced",
        "names": {"kind": "ServiceMonitor", "plural": "servicemonitors", "singular": "servicemonitor"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            }
        ],
    },
}


@pytest.fixture(scope="session")
def bundle_cluster(control_plane: ControlPlane) -> ControlPlane:
    """The session's control plane with the shipped CRDs (k8s/base/crd/) applied and established, the way
    ``make demo`` applies them (server-side, by kubectl): the installs take them over (TAKE_OWNERSHIP)."""
    control_plane.kubectl("apply", "--server-side", "-f", str(ROOT / "k8s" / "base" / "crd"))
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(SERVICEMONITOR_CRD))
    control_plane.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s",
        "crd/maintenances.kubemaint.io", "crd/clusterkopfpeerings.kopf.dev",
        "crd/servicemonitors.monitoring.coreos.com",
    )  # fmt: skip
    return control_plane


@pytest.fixture
def namespace(bundle_cluster: ControlPlane) -> Iterator[str]:
    """A fresh namespace, deleted afterwards (without waiting for the namespace controller)."""
    name = f"bundle-{secrets.token_hex(4)}"
    bundle_cluster.kubectl("create", "namespace", name)
    yield name
    bundle_cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")
