"""The story's kind harness, for machines with a Docker engine: a kind cluster, the two images built with
``docker build`` from this checkout (targets of the root Dockerfile) and loaded with ``kind load``;
PostgreSQL and etcd come from their public images, which kind pulls. (This machine has no Docker engine,
so the story runs on the local node there: tests/conftest.py, ``node_cluster``.)"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from e2ekit import ROOT
from kubemaint_devstack.tools import cache_dir

TAG = "e2e"
# Image repository -> the root Dockerfile's target that builds it.
IMAGES = {"kubemaint/users-service": "users-service", "kubemaint/operator": "kubemaint-operator"}
KIND_MODULE = "sigs.k8s.io/kind@v0.33.0"


def docker_problem() -> str | None:
    """Why kind cannot run here, or None when it can."""
    docker = shutil.which("docker")
    if docker is None:
        return "docker is not installed"
    try:
        info = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 30 s"
    if info.returncode != 0:
        lines = [line.strip() for line in (info.stderr or info.stdout).splitlines() if line.strip()]
        return f"`docker info` failed: {lines[-1] if lines else 'exit ' + str(info.returncode)}"
    if _kind() is None:
        return f"kind is missing (GOBIN={cache_dir() / 'bin'} go install {KIND_MODULE})"
    return None


def _kind() -> str | None:
    cached = cache_dir() / "bin" / "kind"
    return str(cached) if cached.is_file() else shutil.which("kind")


def _run(*argv: str, timeout: float = 900) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{' '.join(argv)}:\n{result.stderr[-4000:]}"
    return result.stdout


class KindCluster:
    """A kind cluster named ``name`` (kept when it existed before, or with KEEP_CLUSTER=1)."""

    def __init__(self, base: Path, name: str = "kubemaint-e2e") -> None:
        self.name = name
        self.kubeconfig = base / "kubeconfig"
        self.values = [arg for repo in ("users-service", "kubemaint-operator")
                       for arg in ("--set", f"{repo}.image.tag={TAG}")]  # fmt: skip
        self._created = False

    def start(self) -> None:
        kind = _kind()
        assert kind is not None
        if self.name not in _run(kind, "get", "clusters").split():
            _run(kind, "create", "cluster", "--name", self.name, "--wait", "180s")
            self._created = True
        self.kubeconfig.write_text(_run(kind, "get", "kubeconfig", "--name", self.name))
        for repo, target in IMAGES.items():
            _run("docker", "build", "-q", "--target", target, "-t", f"{repo}:{TAG}", str(ROOT))
        _run(kind, "load", "docker-image", "--name", self.name, *(f"{repo}:{TAG}" for repo in IMAGES))

    def stop(self) -> None:
        kind = _kind()
        if kind and self._created and os.environ.get("KEEP_CLUSTER") != "1":
            _run(kind, "delete", "cluster", "--name", self.name)
