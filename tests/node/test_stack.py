"""The umbrella chart on the real node: `helm install --wait` of the stack built from this checkout (images
by buildah, imported into containerd), every pod in a real container, then the seed's curl story through
`kubectl port-forward`, and `helm test`."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import NodeCluster
from kubemaint_devstack.app_images import build_app_images
from kubemaint_devstack.process import free_port
from kubemaint_devstack.tools import find_tool

# A cold first run builds the images (about 6 minutes on 2 cores); the pods then start in about a minute.
pytestmark = [pytest.mark.node, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "charts" / "kubemaint-stack"


class Release:
    def __init__(self, cluster: NodeCluster, home: Path, namespace: str, name: str) -> None:
        self.cp = cluster.control_plane
        self.namespace = namespace
        self.name = name
        self.env = {**os.environ, "HELM_CACHE_HOME": str(home / "cache"),
                    "HELM_CONFIG_HOME": str(home / "config"), "HELM_DATA_HOME": str(home / "data"),
                    "KUBECONFIG": str(self.cp.kubeconfig)}  # fmt: skip

    def helm(self, *args: str | Path, timeout: float = 600) -> str:
        result = subprocess.run(
            [find_tool("helm", prefer_cache=True), *map(str, args), "--namespace", self.namespace],
            env=self.env, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        assert result.returncode == 0, f"helm {' '.join(map(str, args))}:\n{result.stderr}\n{result.stdout}"
        return result.stdout

    def pods(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = json.loads(
            self.cp.kubectl("get", "pods", "-n", self.namespace, "-o", "json")
        )["items"]
        return items


@pytest.fixture(scope="module")
def release(node_cluster: NodeCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Release]:
    started = time.monotonic()
    archives = build_app_images()
    node_cluster.node.import_images(list(archives.values()))
    print(f"images built (or found) and imported in {time.monotonic() - started:.1f} s")
    namespace = f"shop-{secrets.token_hex(3)}"
    cp = node_cluster.control_plane
    cp.kubectl("create", "namespace", namespace)
    cp.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    stack = Release(node_cluster, tmp_path_factory.mktemp("helm"), namespace, "kubemaint")
    stack.helm("dependency", "build", STACK)
    started = time.monotonic()
    # Not `helm install --wait`: it waits for the pods before it runs the post-install hook that creates
    # the operator's ClusterKopfPeering, and without that the operator never gates the pods, so it never
    # ends (found here; open in issue 8). The same wait, done after the hook has run:
    stack.helm(
        "install", stack.name, STACK, "--values", STACK / "ci" / "node-values.yaml", "--take-ownership"
    )
    try:
        for kind in ("deployment", "statefulset"):
            cp.kubectl("rollout", "status", kind, "-n", namespace, "--timeout=300s")
    except Exception:
        print(cp.kubectl("get", "pods,events", "-n", namespace, "-o", "wide"))
        raise
    print(f"helm install, every workload rolled out: {time.monotonic() - started:.1f} s")
    yield stack
    stack.helm("uninstall", stack.name, "--wait", "--timeout", "2m")
    cp.kubectl("delete", "namespace", namespace, "--wait=false")


def test_every_pod_of_the_stack_runs_in_a_real_container(release: Release) -> None:
    pods = release.pods()
    names = sorted(p["metadata"]["name"].rsplit("-", 2)[0] for p in pods)
    assert sum("users-service" in n for n in names) == 3, names
    assert sum("kubemaint-operator" in n for n in names) == 2, names
    for pod in pods:
        status = pod["status"]
        assert status["phase"] == "Running", (pod["metadata"]["name"], status.get("phase"))
        for container in status["containerStatuses"]:
            assert container["ready"], (pod["metadata"]["name"], container)
            assert container["restartCount"] == 0, (pod["metadata"]["name"], container["restartCount"])


def test_the_curl_story_through_a_port_forward(release: Release) -> None:
    port = free_port()
    forward = subprocess.Popen(
        [find_tool("kubectl", prefer_cache=True), "--kubeconfig", str(release.cp.kubeconfig), "-n",
         release.namespace, "port-forward", f"svc/{release.name}-users-service", f"{port}:8081"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        assert forward.stdout is not None
        assert "Forwarding from" in forward.stdout.readline()
        with urllib.request.urlopen(f"{base}/users", timeout=10) as response:
            assert response.status == 200
            assert isinstance(json.loads(response.read()), list | dict)
        body = json.dumps(
            {"name": "Ada Lovelace", "email": f"ada-{secrets.token_hex(3)}@example.com"}
        ).encode()
        request = urllib.request.Request(f"{base}/users", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
            created = json.loads(response.read())
        with urllib.request.urlopen(f"{base}/users/{created['id']}", timeout=10) as response:
            assert json.loads(response.read())["name"] == "Ada Lovelace"
        for path in ("/health", "/stats"):
            with urllib.request.urlopen(f"{base}{path}", timeout=10) as response:
                assert response.status == 200, path
    finally:
        forward.terminate()
        forward.wait(10)


def test_helm_test_passes_on_real_pods(release: Release) -> None:
    out = release.helm("test", release.name, "--timeout", "3m")
    assert "Phase:          Succeeded" in out or "Succeeded" in out, out
