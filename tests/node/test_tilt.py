"""`tilt ci` and `tilt up` on the real node, from a copy of this checkout: the Tiltfile builds both dev images
with buildah (its custom_build for the node's context, `devstack tilt-image`), imports them into the node's
containerd, deploys the umbrella chart and exits 0 once every resource is ready; then a Python edit reaches
the running pod by live update, without a new pod."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubemaint_devstack.process import free_port
from kubemaint_devstack.tools import find_tool
from nodekit import NodeCluster

from tests.support.cli import run_kubectl
from tests.support.polling import eventually, seconds_until

# A cold run builds both dev images (uv sync inside each: several minutes on 2 cores).
pytestmark = [pytest.mark.node, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "kubemaint"
SERVICE = "deployment/kubemaint-users-service"


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tracked files of this checkout, so that the test can edit one without touching the original."""
    copy = tmp_path_factory.mktemp("tilt") / "repo"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in files.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    return copy


@pytest.fixture(scope="module")
def tilt_env(node_cluster: NodeCluster, checkout: Path) -> Iterator[dict[str, str]]:
    home = checkout.parent / "home"
    home.mkdir()
    tools = os.pathsep.join(str(find_tool(t, prefer_cache=True).parent) for t in ("helm", "kubectl"))
    uv = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    env = {
        **os.environ,
        "HOME": str(home),  # tilt keeps its state under ~/.tilt-dev
        "XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache")),  # the tool cache
        "KUBECONFIG": str(node_cluster.control_plane.kubeconfig),
        "KUBEMAINT_NODE_CONTAINERD": str(node_cluster.node.containerd_socket),
        "PATH": os.pathsep.join([tools, str(Path(uv).parent), os.environ.get("PATH", "")]),
    }
    yield env
    subprocess.run([find_tool("tilt", prefer_cache=True), "down", "--delete-namespaces"], cwd=checkout,
                   env=env, capture_output=True, timeout=300, check=False)  # fmt: skip


def _kubectl(node_cluster: NodeCluster, *args: str) -> str:
    return node_cluster.control_plane.kubectl("--namespace", NAMESPACE, *args)


def test_tilt_ci_builds_with_buildah_deploys_and_exits_0(
    node_cluster: NodeCluster, checkout: Path, tilt_env: dict[str, str]
) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [find_tool("tilt", prefer_cache=True), "ci", "--port", str(free_port()), "--timeout", "20m"],
        cwd=checkout, env=tilt_env, capture_output=True, text=True, timeout=1500, check=False,
    )  # fmt: skip
    print(f"tilt ci: exit {result.returncode} after {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    images = _kubectl(node_cluster, "get", "pods", "-o", "jsonpath={.items[*].spec.containers[*].image}")
    assert "kubemaint/users-service:tilt-" in images, images
    assert "kubemaint/operator:tilt-" in images, images
    _kubectl(node_cluster, "wait", "--for=condition=Ready", "pod", "--all", "--timeout=60s")


def test_a_python_edit_reaches_the_running_pod_by_live_update(
    node_cluster: NodeCluster, checkout: Path, tilt_env: dict[str, str]
) -> None:
    port = free_port()
    tilt = find_tool("tilt", prefer_cache=True)
    up = subprocess.Popen([tilt, "up", "--stream", "--port", str(port)], cwd=checkout, env=tilt_env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:

        def serving() -> bool:
            assert up.poll() is None, "tilt up stopped"
            return not subprocess.run([tilt, "get", "uiresources", "--port", str(port)], env=tilt_env,
                                      capture_output=True, timeout=30, check=False).returncode  # fmt: skip

        eventually(serving, 60, "tilt up serving its API", every=1)
        wait = subprocess.run(
            [tilt, "wait", "--port", str(port), "--for=create", "--for=condition=Ready",
             "uiresource/users-service", "--timeout=600s"],
            env=tilt_env, capture_output=True, text=True, timeout=700, check=False,
        )  # fmt: skip
        assert wait.returncode == 0, wait.stderr
        # tilt up built and deployed anew: the pod of the tilt ci run may still be on its way out.
        _kubectl(node_cluster, "rollout", "status", SERVICE, "--timeout=300s")
        pods = json.loads(_kubectl(node_cluster, "get", "pods", "-l", "app.kubernetes.io/name=users-service",
                                   "-o", "json"))["items"]  # fmt: skip
        (pod,) = [p["metadata"]["name"] for p in pods if not p["metadata"].get("deletionTimestamp")]
        mark = secrets.token_hex(4)
        module = checkout / "service" / "src" / "users_service" / "__init__.py"
        module.write_text(module.read_text() + f'\nLIVE_UPDATE_MARK = "{mark}"\n')
        probe = "import users_service; print(users_service.LIVE_UPDATE_MARK)"
        probes: list[subprocess.CompletedProcess[str]] = []

        def reached() -> bool:
            probes.append(run_kubectl(Path(tilt_env["KUBECONFIG"]), "-n", NAMESPACE, "exec", pod, "--",
                                      "python", "-c", probe, timeout=60))  # fmt: skip
            return probes[-1].stdout.strip() == mark

        try:
            took = seconds_until(f"the edit in pod {pod}", reached, timeout=120, every=1)
        except AssertionError as timed_out:
            raise AssertionError(
                f"the edit did not reach pod {pod}: {probes[-1].stderr[-2000:]}"
            ) from timed_out
        print(f"live update in the running pod {took:.1f} s after the edit")
        names = _kubectl(node_cluster, "get", "pods", "-l", "app.kubernetes.io/name=users-service",
                         "-o", "jsonpath={.items[*].metadata.name}").split()  # fmt: skip
        assert pod in names, "a live update, not a new pod"
    finally:
        up.terminate()
        up.wait(30)
