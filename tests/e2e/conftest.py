"""One story, two clusters. ``stack`` installs the umbrella chart on kind where a Docker engine exists
(``kind.py``), and on the suite's real node otherwise (``node_cluster``, tests/conftest.py: images built by
buildah and imported into its containerd). KUBEMAINT_E2E_CLUSTER=kind or =node picks one on purpose."""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Iterator

import pytest
from e2ekit import STACK, Stack
from kind import KindCluster, docker_problem


def _which_cluster() -> tuple[str, str | None]:
    """The cluster the story runs on, and why it cannot run there (None: it can)."""
    wanted = os.environ.get("KUBEMAINT_E2E_CLUSTER", "auto")
    if wanted not in {"auto", "kind", "node"}:
        raise pytest.UsageError(f"KUBEMAINT_E2E_CLUSTER={wanted!r}: expected auto, kind or node")
    problem = docker_problem()
    if wanted == "kind" or (wanted == "auto" and problem is None):
        return "kind", None if problem is None else f"Docker engine not available: {problem}"
    if os.geteuid() != 0:
        return "node", "the local node needs root (network and mount namespaces, cgroups)"
    return "node", None


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    which, problem = _which_cluster()
    if problem is not None:
        sys.stderr.write(problem + "\n")
        pytest.skip(problem)
    base = tmp_path_factory.mktemp("e2e")
    started = time.monotonic()
    kind: KindCluster | None = None
    if which == "kind":
        kind = KindCluster(base)
        kind.start()
        kubeconfig, values = kind.kubeconfig, kind.values
    else:
        from kubemaint_devstack.app_images import build_app_images, import_app_images

        cluster = request.getfixturevalue("node_cluster")
        tags = import_app_images(cluster.node.containerd_socket, build_app_images())
        kubeconfig = cluster.control_plane.kubeconfig
        values = ["--values", str(STACK / "ci" / "node-values.yaml"), *tags]
    print(f"[{which}] cluster up, images built (or found) and loaded: {time.monotonic() - started:.1f} s")
    namespace = f"shop-{secrets.token_hex(3)}"
    stack = Stack(kubeconfig, namespace, "kubemaint", base / "helm", values)
    stack.kubectl("create", "namespace", namespace)
    stack.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    stack.helm("dependency", "build", STACK)
    started = time.monotonic()
    try:
        stack.helm("install", stack.release, STACK, *values, "--set", "users-service.replicaCount=3",
                   "--take-ownership", "--wait", "--timeout", "5m")  # fmt: skip
    except AssertionError:
        print(stack.kubectl("get", "pods,events", "-o", "wide"))
        raise
    print(f"[{which}] helm install --wait: {time.monotonic() - started:.1f} s")
    try:
        yield stack
    finally:
        if stack.helm("list", "-q").split():
            stack.helm("uninstall", stack.release, "--wait", "--timeout", "2m")
        stack.kubectl("delete", "namespace", namespace, "--wait=false")
        if kind is not None:
            kind.stop()
