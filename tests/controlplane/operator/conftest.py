"""Fixtures for the operator on the real control plane: the shipped CRDs and RBAC applied, a namespace per
test, and the operator started as a real ``kubemaint-operator`` process under the ServiceAccount of
``k8s/base/rbac`` (a token for exactly that identity), against the session's real etcd.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kube_support import (
    CRD_DIR,
    OPERATOR_ACCOUNT,
    OPERATOR_NAMESPACE,
    RBAC_DIR,
    Kube,
    OperatorProcess,
)
from kubemaint_devstack.controlplane import ControlPlane, KubectlError
from kubemaint_devstack.etcd import EtcdServer


@pytest.fixture(scope="session")
def kube(control_plane: ControlPlane) -> Kube:
    return Kube(control_plane)


@pytest.fixture(scope="session")
def crds(kube: Kube) -> None:
    """The very CRD files that ship, applied and established."""
    kube.kubectl("apply", "-f", str(CRD_DIR))
    kube.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s",
        "crd/maintenances.kubemaint.io", "crd/clusterkopfpeerings.kopf.dev", "crd/kopfpeerings.kopf.dev",
    )  # fmt: skip


@pytest.fixture(scope="session")
def operator_kubeconfig(control_plane: ControlPlane, kube: Kube, crds: None) -> Path:
    """A kubeconfig for system:serviceaccount:kubemaint-system:kubemaint-operator with the shipped RBAC."""
    path = control_plane.token_kubeconfig(OPERATOR_NAMESPACE, OPERATOR_ACCOUNT)
    kube.kubectl("apply", "-f", str(RBAC_DIR))
    return path


@pytest.fixture
def namespace(kube: Kube, crds: None) -> Iterator[str]:
    name = f"op-{secrets.token_hex(4)}"
    kube.kubectl("create", "namespace", name)
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture
def service_name() -> str:
    """A service name (hence an etcd key) no other test uses."""
    return f"svc-{secrets.token_hex(4)}"


@pytest.fixture
def start_operator(
    operator_kubeconfig: Path, etcd: EtcdServer, kube: Kube, namespace: str, tmp_path: Path
) -> Iterator[Callable[..., OperatorProcess]]:
    """Start operator processes (sharing one peering object); at the end, delete the test's Maintenance
    objects while an operator still runs (their finalizers), then stop every operator."""
    peering = f"kubemaint-{secrets.token_hex(4)}"
    kube.apply({"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": peering}})
    started: list[OperatorProcess] = []

    def start(**env: str) -> OperatorProcess:
        process = OperatorProcess(operator_kubeconfig, etcd.endpoint, tmp_path, peering, **env)
        started.append(process)
        return process.start()

    yield start
    if any(p.process.running for p in started):
        try:
            kube.kubectl("delete", "maintenances", "--all", "-n", namespace, "--timeout=30s")
        except KubectlError as exc:
            print(f"cleanup: {exc}")
    for process in started:
        process.stop()
    kube.kubectl("delete", "clusterkopfpeering", peering, "--wait=false")


@pytest.fixture
def operator(start_operator: Callable[..., OperatorProcess]) -> OperatorProcess:
    """One operator replica."""
    return start_operator()
