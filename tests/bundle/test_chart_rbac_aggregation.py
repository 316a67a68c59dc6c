"""The operator chart's editor and viewer ClusterRoles reach people through the built-in roles: on the real
control plane (kube-controller-manager's aggregation controller), whoever is bound to `edit` may manage
Maintenance objects and whoever is bound to `view` may only read them."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

import yaml
from bundlekit import CHARTS, documents

from tests.support.cli import Helm, run_kubectl

if TYPE_CHECKING:
    from kubemaint_devstack.controlplane import ControlPlane


def _can_i(cluster: ControlPlane, user: str, verb: str, namespace: str) -> bool:
    """`kubectl auth can-i` as `user` (impersonated by the admin): exit 0 is yes, 1 is no."""
    result = run_kubectl(cluster.kubeconfig, "auth", "can-i", "-q", verb, "maintenances.kubemaint.io",
                         "--as", user, "-n", namespace, timeout=60)  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    return result.returncode == 0


def test_edit_and_view_holders_get_maintenance_access(
    helm: Helm, bundle_cluster: ControlPlane, namespace: str
) -> None:
    release = f"agg{secrets.token_hex(3)}"
    roles = [
        o
        for o in documents(helm.run("template", release, CHARTS / "kubemaint-operator").stdout)
        if o["kind"] == "ClusterRole" and o["metadata"]["name"].endswith(("-editor", "-viewer"))
    ]
    assert len(roles) == 2
    editor, viewer = f"editor-{release}", f"viewer-{release}"
    bindings = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": user, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        }
        for user, role in ((editor, "edit"), (viewer, "view"))
    ]
    before = _can_i(bundle_cluster, editor, "create", namespace)
    bundle_cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*roles, *bindings]))
    try:
        deadline = time.monotonic() + 30
        while not _can_i(bundle_cluster, editor, "create", namespace):  # the aggregation controller is async
            assert time.monotonic() < deadline, "edit never gained the editor's rules"
            time.sleep(0.5)
        assert before is False, "edit could create Maintenances before the chart's roles existed"
        for verb in ("create", "update", "patch", "delete", "get", "list", "watch"):
            assert _can_i(bundle_cluster, editor, verb, namespace), verb
        deadline = time.monotonic() + 30
        while not _can_i(bundle_cluster, viewer, "list", namespace):
            assert time.monotonic() < deadline, "view never gained the viewer's rules"
            time.sleep(0.5)
        for verb in ("get", "list", "watch"):
            assert _can_i(bundle_cluster, viewer, verb, namespace), verb
        for verb in ("create", "patch", "delete"):
            assert not _can_i(bundle_cluster, viewer, verb, namespace), verb
        assert not _can_i(bundle_cluster, f"nobody-{release}", "get", namespace)
    finally:
        for role in roles:
            bundle_cluster.kubectl("delete", "clusterrole", role["metadata"]["name"], "--ignore-not-found")
