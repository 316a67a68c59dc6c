"""The Tiltfile, evaluated by the real tilt (built from Go modules: scripts/build-tools.sh tilt) with
`tilt alpha tiltfile-result`, declares what `tilt up` needs: both images with live_update, the umbrella
chart's objects split into labelled resources with the CRDs first, and the port-forwards.

Evaluation needs no reachable cluster, only a kube context: the kubeconfig here names the kind context
"kind-kubemaint" with an address nothing listens on. Nothing is built or deployed."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from bundlekit import ROOT
from kubemaint_devstack.tools import find_tool

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: none}}]
contexts: [{name: CONTEXT, context: {cluster: c, user: u}}]
current-context: CONTEXT
"""


def _evaluate(tmp_path: Path, context: str) -> subprocess.CompletedProcess[str]:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG.replace("CONTEXT", context))
    helm_dir = find_tool("helm", prefer_cache=True).parent
    env = {
        **os.environ,
        "HOME": str(tmp_path),  # tilt keeps its state under ~/.tilt-dev
        "KUBECONFIG": str(kubeconfig),
        "PATH": f"{helm_dir}{os.pathsep}{os.environ.get('PATH', '')}",  # the Tiltfile runs helm
    }
    return subprocess.run(
        [find_tool("tilt", prefer_cache=True), "alpha", "tiltfile-result", "-f", str(ROOT / "Tiltfile")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    result = _evaluate(tmp_path_factory.mktemp("tilt"), "kind-kubemaint")
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert not loaded.get("Error"), loaded["Error"]
    return {m["Name"]: m for m in loaded["Manifests"]}


def _objects(manifest: dict[str, Any]) -> set[tuple[str, str]]:
    docs = yaml.safe_load_all(manifest["DeployTarget"]["yaml"])
    return {(d["kind"], d["metadata"]["name"]) for d in docs if d}


def _forwards(manifest: dict[str, Any]) -> list[int]:
    spec = manifest["DeployTarget"].get("portForwardTemplateSpec") or {"forwards": []}
    return [f["localPort"] for f in spec["forwards"]]


def test_resources_are_declared_with_labels(manifests: dict[str, dict[str, Any]]) -> None:
    assert set(manifests) == {"crds", "operator", "users-service", "postgres", "etcd"}
    labels = {name: set(m["Labels"]) for name, m in manifests.items()}
    assert labels == {
        "crds": {"operator"},
        "operator": {"operator"},
        "users-service": {"app"},
        "postgres": {"data"},
        "etcd": {"data"},
    }


def test_crds_come_first(manifests: dict[str, dict[str, Any]]) -> None:
    assert {kind for kind, _ in _objects(manifests["crds"])} == {"CustomResourceDefinition", "Namespace"}
    assert ("CustomResourceDefinition", "maintenances.kubemaint.io") in _objects(manifests["crds"])
    assert not manifests["crds"]["ResourceDependencies"]
    for name in ("operator", "postgres", "etcd"):
        assert manifests[name]["ResourceDependencies"] == ["crds"], name
    assert set(manifests["users-service"]["ResourceDependencies"]) == {"operator", "postgres", "etcd"}
    assert ("ClusterKopfPeering", "kubemaint-kubemaint-operator") in _objects(manifests["operator"])


def test_port_forwards(manifests: dict[str, dict[str, Any]]) -> None:
    assert _forwards(manifests["users-service"]) == [8081]
    assert _forwards(manifests["postgres"]) == [5432]
    assert _forwards(manifests["etcd"]) == [2379]


def test_helm_test_pods_are_not_deployed(manifests: dict[str, dict[str, Any]]) -> None:
    pods = [name for m in manifests.values() for kind, name in _objects(m) if kind == "Pod"]
    assert pods == []


@pytest.mark.parametrize(
    ("resource", "image", "member", "package"),
    [
        ("users-service", "kubemaint/users-service", "service", "users-service"),
        ("operator", "kubemaint/operator", "operator", "kubemaint-operator"),
    ],
)
def test_images_build_and_live_update(
    manifests: dict[str, dict[str, Any]], resource: str, image: str, member: str, package: str
) -> None:
    (target,) = manifests[resource]["ImageTargets"]
    assert target["selector"] == image
    build = target["BuildDetails"]
    assert build["dockerfileContents"] == (ROOT / "Dockerfile").read_text(), "the root Dockerfile"
    assert (build["target"], build["args"]) == ("dev", [f"PACKAGE={package}"])
    live = target["LiveUpdateSpec"]
    assert {(s["localPath"], s["containerPath"]) for s in live["syncs"]} == {
        ("kubemaint/src", "/app/kubemaint/src"),
        (f"{member}/src", f"/app/{member}/src"),
        ("uv.lock", "/app/uv.lock"),
    }
    (step,) = live["execs"]
    assert step["triggerPaths"] == ["uv.lock"], "uv sync must run only when the lock changes"
    assert f"uv sync --frozen --no-dev --inexact --package {package}" in step["args"][-1]
    assert f"{member}/pyproject.toml" in live["stopPaths"]
    command = target["overrideCommand"]["command"]
    assert command[:6] == ["watchfiles", "--filter", "python", "--target-type", "command", package]
    assert command[6:] == ["/app/kubemaint/src", f"/app/{member}/src"], "restart on edits of the synced code"


def test_other_contexts_are_refused(tmp_path: Path) -> None:
    result = _evaluate(tmp_path, "prod-cluster")
    assert result.returncode != 0
    assert "prod-cluster" in result.stderr
    assert "allow_k8s_contexts" in result.stderr


def test_on_the_local_node_buildah_builds_and_the_stores_run_the_stand_ins(tmp_path: Path) -> None:
    result = _evaluate(tmp_path, "kubemaint-admin@kubemaint-dev")
    assert result.returncode == 0, result.stderr
    manifests = {m["Name"]: m for m in json.loads(result.stdout)["Manifests"]}
    assert "node-images" in manifests, "a local resource builds the stores' stand-in images"
    for name in ("postgres", "etcd"):
        assert set(manifests[name]["ResourceDependencies"]) == {"crds", "node-images"}
        images = {c["image"] for c in _containers(manifests[name])}
        assert images == {f"localhost/kubemaint/{name}:dev"}, images
    for resource in ("users-service", "operator"):
        (target,) = manifests[resource]["ImageTargets"]
        command = " ".join(target["BuildDetails"]["args"])  # a custom_build: Tilt runs this, no Docker
        assert "devstack tilt-image" in command, command
        assert "--target dev" in command, "the root Dockerfile's dev target"
        assert target["LiveUpdateSpec"]["syncs"], "live update works the same on the node"


def _containers(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    docs = yaml.safe_load_all(manifest["DeployTarget"]["yaml"])
    sets = [d for d in docs if d and d["kind"] == "StatefulSet"]
    return [c for d in sets for c in d["spec"]["template"]["spec"]["containers"]]
