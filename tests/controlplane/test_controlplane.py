"""The local control plane is a real one: API server ready and versioned, controllers acting, RBAC enforced.

No kubelet runs here: Deployments become ReplicaSets and Pods, but the Pods are never started.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from kubemaint_devstack.controlplane import ControlPlane, KubectlError

from tests.support.cli import devstack, run_kubectl
from tests.support.polling import eventually

pytestmark = pytest.mark.controlplane


def test_apiserver_is_ready(control_plane: ControlPlane) -> None:
    assert control_plane.kubectl("get", "--raw", "/readyz").strip() == "ok"
    assert control_plane.server.startswith("https://127.0.0.1:")


def test_version_is_stamped(control_plane: ControlPlane) -> None:
    version = control_plane.api_get("/version")
    assert version["gitVersion"] == "v1.36.3"
    assert (version["major"], version["minor"]) == ("1", "36")
    assert "v1.36.3" in control_plane.kubectl("version")


def test_deployment_becomes_replicaset_and_pods(control_plane: ControlPlane) -> None:
    ns = f"deploy-{secrets.token_hex(3)}"
    control_plane.kubectl("create", "namespace", ns)
    control_plane.kubectl("create", "deployment", "web", "--image=nginx", "--replicas=2", "-n", ns)

    def pods() -> list[dict[str, Any]]:
        out = control_plane.kubectl("get", "pods", "-n", ns, "-l", "app=web", "-o", "json")
        items: list[dict[str, Any]] = json.loads(out)["items"]
        return items

    eventually(lambda: len(pods()) == 2, 60, "two pods of the deployment")
    replicasets = json.loads(control_plane.kubectl("get", "replicasets", "-n", ns, "-o", "json"))["items"]
    assert [rs["metadata"]["ownerReferences"][0]["name"] for rs in replicasets] == ["web"]
    owners = {p["metadata"]["ownerReferences"][0]["name"] for p in pods()}
    assert owners == {replicasets[0]["metadata"]["name"]}


def test_namespace_deletion_completes(control_plane: ControlPlane) -> None:
    ns = f"gone-{secrets.token_hex(3)}"
    control_plane.kubectl("create", "namespace", ns)
    control_plane.kubectl("create", "configmap", "c", "--from-literal=a=b", "-n", ns)
    control_plane.kubectl("delete", "namespace", ns, "--wait=true", "--timeout=60s")
    with pytest.raises(KubectlError, match="NotFound"):
        control_plane.kubectl("get", "namespace", ns)


def test_service_account_token_is_subject_to_rbac(control_plane: ControlPlane) -> None:
    ns = f"rbac-{secrets.token_hex(3)}"
    kubeconfig = control_plane.token_kubeconfig(ns, "reader")
    whoami = json.loads(control_plane.kubectl("auth", "whoami", "-o", "json", kubeconfig=kubeconfig))
    assert whoami["status"]["userInfo"]["username"] == f"system:serviceaccount:{ns}:reader"
    with pytest.raises(KubectlError, match="Forbidden"):
        control_plane.kubectl("get", "configmaps", "-n", ns, kubeconfig=kubeconfig)

    control_plane.kubectl("create", "role", "read-cm", "--verb=get,list", "--resource=configmaps", "-n", ns)
    control_plane.kubectl(
        "create", "rolebinding", "reader", "--role=read-cm", f"--serviceaccount={ns}:reader", "-n", ns
    )
    eventually(lambda: _can_list_configmaps(control_plane, kubeconfig, ns), timeout=30)
    with pytest.raises(KubectlError, match="Forbidden"):
        control_plane.kubectl("get", "secrets", "-n", ns, kubeconfig=kubeconfig)
    with pytest.raises(KubectlError, match="Forbidden"):
        control_plane.kubectl("get", "configmaps", "-n", "default", kubeconfig=kubeconfig)


def _can_list_configmaps(control_plane: ControlPlane, kubeconfig: Path, ns: str) -> bool:
    try:
        control_plane.kubectl("get", "configmaps", "-n", ns, kubeconfig=kubeconfig)
    except KubectlError:
        return False
    return True


def test_devstack_cli_leaves_a_cluster_running_until_down(tmp_path: Path) -> None:
    stack = tmp_path / "stack"
    try:
        up = devstack(stack, "up", "--control-plane", "--no-postgres", timeout=180)
        assert up.returncode == 0, up.stderr
        env = devstack(stack, "env", check=True).stdout
        exports = dict(line.removeprefix("export ").split("=", 1) for line in env.splitlines())
        assert set(exports) == {"ETCD_ENDPOINTS", "KUBECONFIG"}
        kubeconfig = Path(exports["KUBECONFIG"])
        ready = run_kubectl(kubeconfig, "get", "--raw", "/readyz", timeout=30)
        assert ready.stdout.strip() == "ok", ready.stderr
    finally:
        devstack(stack, "down", check=True)
    gone = run_kubectl(kubeconfig, "get", "--raw", "/readyz", timeout=30)
    assert gone.returncode != 0
