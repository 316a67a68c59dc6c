"""What the benchmarks that run the operator share (a module, not a benchmark: ``make bench`` skips it)."""

from __future__ import annotations

import sys
from pathlib import Path

from kubemaint_devstack.controlplane import ControlPlane

REPO = Path(__file__).resolve().parents[1]


def script(name: str) -> str:
    """A console script of this virtual environment (``users-service``, ``kubemaint-operator``)."""
    return str(Path(sys.executable).parent / name)


def prepare_operator(cluster: ControlPlane, namespace: str) -> Path:
    """The shipped CRDs, RBAC and peering object applied, and ``namespace`` made; returns a kubeconfig for
    the operator's ServiceAccount (the identity the chart gives it)."""
    cluster.kubectl("apply", "-f", str(REPO / "k8s/base/crd"))
    cluster.kubectl("wait", "--for=condition=Established", "crd/maintenances.kubemaint.io",
                    "crd/clusterkopfpeerings.kopf.dev")  # fmt: skip
    kubeconfig = cluster.token_kubeconfig("kubemaint-system", "kubemaint-operator")
    cluster.kubectl("apply", "-f", str(REPO / "k8s/base/rbac"))
    cluster.kubectl("apply", "-f", str(REPO / "k8s/base/peering"))
    cluster.kubectl("create", "namespace", namespace)
    return kubeconfig
