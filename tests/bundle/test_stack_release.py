"""`helm install kubemaint-stack` into the real control plane creates every object, `helm upgrade` applies a
values change, and `helm uninstall` removes everything except what the charts document as kept: the
Maintenance CRD (helm.sh/resource-policy: keep) and kopf's peering CRDs (the operator chart's crds/)."""

from __future__ import annotations

import json
import secrets
import time
from typing import TYPE_CHECKING, Any

from bundlekit import CHARTS, STACK, TAKE_OWNERSHIP, documents, helm_kube_args

from tests.support.cli import Helm

if TYPE_CHECKING:
    from kubemaint_devstack.controlplane import ControlPlane

KEPT_KINDS = {"CustomResourceDefinition"}  # the only kind the charts annotate with resource-policy: keep


def _ref(obj: dict[str, Any], namespace: str) -> list[str]:
    """kubectl arguments naming one object: <kind>.<group>/<name> plus its namespace when namespaced."""
    group = obj["apiVersion"].rpartition("/")[0]
    kind = f"{obj['kind'].lower()}.{group}" if group else obj["kind"].lower()
    args = [f"{kind}/{obj['metadata']['name']}"]
    if obj["kind"] not in {
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "ClusterKopfPeering",
    }:
        args += ["--namespace", obj["metadata"].get("namespace", namespace)]
    return args


def _exists(cluster: ControlPlane, obj: dict[str, Any], namespace: str) -> bool:
    out = cluster.kubectl("get", *_ref(obj, namespace), "--ignore-not-found", "-o", "name")
    return bool(out.strip())


def _get(cluster: ControlPlane, ref: str, namespace: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(cluster.kubectl("get", ref, "--namespace", namespace, "-o", "json"))
    return loaded


def test_install_upgrade_uninstall(helm: Helm, bundle_cluster: ControlPlane, namespace: str) -> None:
    release = f"km{secrets.token_hex(3)}"
    kube = helm_kube_args(bundle_cluster, namespace)
    helm.run("install", release, CHARTS / STACK, *kube, TAKE_OWNERSHIP)
    objects = documents(helm.run("get", "manifest", release, *kube).stdout)
    hooks = [o for o in documents(helm.run("get", "hooks", release, *kube).stdout)
             if "test" not in o["metadata"]["annotations"]["helm.sh/hook"]]  # fmt: skip
    kinds = {o["kind"] for o in objects}
    expected = {"CustomResourceDefinition", "Deployment", "StatefulSet", "Service", "ConfigMap", "Secret"}
    expected |= {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "PodDisruptionBudget"}
    assert expected <= kinds
    missing = [o["metadata"]["name"] for o in objects + hooks if not _exists(bundle_cluster, o, namespace)]
    assert missing == []
    assert hooks == [], "the peering object is part of the release, so `helm install --wait` can finish"
    assert ("ClusterKopfPeering", f"{release}-kubemaint-operator") in {
        (o["kind"], o["metadata"]["name"]) for o in objects
    }

    # The deployment controller acts on the chart's Deployments (no kubelet: the pods stay Pending).
    service = f"{release}-users-service"
    before = _get(bundle_cluster, f"deployment/{service}", namespace)
    assert before["spec"]["replicas"] == 2
    assert before["spec"]["template"]["spec"]["readinessGates"] == [{"conditionType": "kubemaint.io/serving"}]

    helm.run("upgrade", release, CHARTS / STACK, *kube, "--reuse-values",
             "--set", "users-service.replicaCount=3", "--set", "users-service.logLevel=DEBUG")  # fmt: skip
    after = _get(bundle_cluster, f"deployment/{service}", namespace)
    assert after["spec"]["replicas"] == 3
    config = _get(bundle_cluster, f"configmap/{service}", namespace)
    assert config["data"]["LOG_LEVEL"] == "DEBUG"
    checksum = "checksum/config"
    assert (
        after["spec"]["template"]["metadata"]["annotations"][checksum]
        != (before["spec"]["template"]["metadata"]["annotations"][checksum])
    ), "a configuration change must roll the pods"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the rollout: a second ReplicaSet for the new pod template
        sets = json.loads(bundle_cluster.kubectl(
            "get", "replicasets", "--namespace", namespace, "-l", "app.kubernetes.io/name=users-service",
            "-o", "json"))["items"]  # fmt: skip
        if len(sets) >= 2:
            break
        time.sleep(0.5)
    assert len(sets) >= 2
    assert helm.run("history", release, *kube, "-o", "json").stdout.count('"revision"') == 2

    helm.run("uninstall", release, *kube, "--wait", "--timeout", "60s")
    kept = [o["metadata"]["name"] for o in objects if o["kind"] in KEPT_KINDS]
    assert kept == ["maintenances.kubemaint.io"]
    left = [
        f"{o['kind']}/{o['metadata']['name']}"
        for o in objects
        if o["kind"] not in KEPT_KINDS and _exists(bundle_cluster, o, namespace)
    ]
    assert left == []
    crds = bundle_cluster.kubectl("get", "crd", "-o", "name").split()
    for crd in (*kept, "clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"):
        assert f"customresourcedefinition.apiextensions.k8s.io/{crd}" in crds, f"{crd} is kept"
