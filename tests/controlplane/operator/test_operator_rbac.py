"""The shipped RBAC is least privilege: what the handlers need is allowed (the other tests run the operator
under this identity, so a missing verb fails them), and nothing more is."""

from __future__ import annotations

from pathlib import Path

import pytest
from kube_support import OPERATOR_ACCOUNT, OPERATOR_NAMESPACE, Kube
from kubemaint_devstack.controlplane import KubectlError

IDENTITY = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_ACCOUNT}"


def _can(kube: Kube, *args: str) -> bool:
    try:
        return kube.kubectl("auth", "can-i", f"--as={IDENTITY}", *args).strip() == "yes"
    except KubectlError:
        return False  # kubectl exits 1 for "no"


@pytest.mark.parametrize(
    "action",
    [
        ("watch", "maintenances.kubemaint.io", "--all-namespaces"),
        ("patch", "maintenances.kubemaint.io", "-n", "shop"),
        ("patch", "maintenances.kubemaint.io", "--subresource=status", "-n", "shop"),
        ("list", "pods", "--all-namespaces"),
        ("patch", "pods", "--subresource=status", "-n", "shop"),
        ("create", "events", "-n", "shop"),
        ("get", "secrets/etcd-client", "-n", "shop"),
        ("patch", "clusterkopfpeerings.kopf.dev"),
    ],
    ids=lambda a: " ".join(a[:2]) + (" status" if "--subresource=status" in a else ""),
)
def test_operator_may_do_what_its_handlers_need(
    kube: Kube, operator_kubeconfig: Path, action: tuple[str, ...]
) -> None:
    assert _can(kube, *action)


@pytest.mark.parametrize(
    "action",
    [
        ("patch", "pods", "-n", "shop"),
        ("delete", "pods", "-n", "shop"),
        ("create", "pods", "-n", "shop"),
        ("list", "secrets", "-n", "shop"),
        ("watch", "secrets", "--all-namespaces"),
        ("create", "maintenances.kubemaint.io", "-n", "shop"),
        ("delete", "maintenances.kubemaint.io", "-n", "shop"),
        ("update", "customresourcedefinitions.apiextensions.k8s.io"),
        ("patch", "services", "-n", "shop"),
        ("get", "configmaps", "-n", "shop"),
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_operator_may_do_nothing_more(kube: Kube, operator_kubeconfig: Path, action: tuple[str, ...]) -> None:
    assert not _can(kube, *action)
