"""Helpers for the operator's control-plane tests: the operator and service processes, API reads, and the
test code that plays the kubelet.

Nothing here fakes the API server, etcd, the operator or the users service: they are real processes. The
one simulated part is the kubelet (there is none on this control plane): :class:`FakeKubelet` marks pods
Running with a pod IP and computes their ``Ready`` condition from their containers and readiness gates,
the way the kubelet does, so that the real endpointslice controller can act on it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from kubemaint_devstack.controlplane import ControlPlane, KubectlError
from kubemaint_devstack.process import ManagedProcess, free_port

from tests.support.polling import eventually

REPO = Path(__file__).resolve().parents[3]
CRD_DIR = REPO / "k8s" / "base" / "crd"
RBAC_DIR = REPO / "k8s" / "base" / "rbac"
SAMPLES_DIR = REPO / "k8s" / "samples"
GATE = "kubemaint.io/serving"
OPERATOR_NAMESPACE = "kubemaint-system"
OPERATOR_ACCOUNT = "kubemaint-operator"


def script(name: str) -> str:
    """A console script of the workspace environment."""
    candidate = Path(sys.executable).parent / name
    return str(candidate)


class Kube:
    """Reads through the API (admin client certificate), writes with the built kubectl."""

    def __init__(self, cluster: ControlPlane) -> None:
        self.cluster = cluster

    def kubectl(self, *args: str, input: str | None = None) -> str:
        return self.cluster.kubectl(*args, input=input)

    def apply(self, *objects: Mapping[str, Any]) -> None:
        self.kubectl(
            "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
        )

    def get(self, path: str) -> dict[str, Any] | None:
        """GET an API path; None on 404."""
        try:
            result: dict[str, Any] = self.cluster.api_get(path)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise
        return result

    def maintenance(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.get(f"/apis/kubemaint.io/v1alpha1/namespaces/{namespace}/maintenances/{name}")

    def pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.get(f"/api/v1/namespaces/{namespace}/pods/{name}")

    def condition(self, obj: Mapping[str, Any] | None, kind: str) -> str | None:
        for item in ((obj or {}).get("status") or {}).get("conditions") or []:
            if item.get("type") == kind:
                return str(item.get("status"))
        return None

    def gate(self, namespace: str, pod: str) -> str | None:
        return self.condition(self.pod(namespace, pod), GATE)

    def wait_phase(self, namespace: str, name: str, phase: str, timeout: float = 30.0) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            obj = self.maintenance(namespace, name)
            return obj if obj and (obj.get("status") or {}).get("phase") == phase else None

        result: dict[str, Any] = eventually(check, timeout, f"{namespace}/{name} phase {phase}")
        return result

    def wait_gone(self, namespace: str, name: str, timeout: float = 30.0) -> None:
        eventually(lambda: self.maintenance(namespace, name) is None, timeout, f"{namespace}/{name} deleted")

    def wait_default_account(self, namespace: str) -> None:
        """Pods need the namespace's default ServiceAccount (made by the serviceaccount controller)."""
        eventually(
            lambda: self.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/default") is not None,
            60,
            f"default ServiceAccount in {namespace}",
        )


def maintenance(name: str, namespace: str, service: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kubemaint.io/v1alpha1",
        "kind": "Maintenance",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"service": service, **spec},
    }


def pod(
    name: str, namespace: str, service: str, *, gate: bool = True, node: str | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "users-service:dev"}]}
    if gate:
        spec["readinessGates"] = [{"conditionType": GATE}]
    if node is not None:
        spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/name": service}},
        "spec": spec,
    }


class OperatorProcess:
    """``kubemaint-operator`` as a real process, under the given kubeconfig (the RBAC identity)."""

    def __init__(self, kubeconfig: Path, etcd_endpoint: str, log_dir: Path, peering: str, **env: str) -> None:
        self.port = free_port()
        self.log_path = log_dir / f"operator-{secrets.token_hex(3)}.log"
        environment = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "ETCD_ENDPOINTS": etcd_endpoint,
            "LIVENESS_ENDPOINT": f"http://127.0.0.1:{self.port}/healthz",
            "PEERING_NAME": peering,
            "RESYNC_SECONDS": "2",
            "LOG_FORMAT": "console",
            "LOG_LEVEL": os.environ.get("KUBEMAINT_TEST_OPERATOR_LOG_LEVEL", "INFO"),
            **env,
        }
        self.process = ManagedProcess(
            "kubemaint-operator",
            [script("kubemaint-operator")],
            self.log_path,
            env=environment,
            stop_timeout=20,
        )

    def start(self) -> OperatorProcess:
        self.process.start()
        self.process.wait_until(self._live, 60, "serving its liveness probe")
        return self

    def _live(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        self.process.stop()

    def kill(self) -> None:
        self.process.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class FakeKubelet:
    """SIMULATED KUBELET. Test code, not Kubernetes: for pods bound to ``node`` it sets phase Running, a pod
    IP, ``ContainersReady`` True, and ``Ready`` = ContainersReady and every readiness gate condition True
    (a gate without its condition counts as not ready), recomputed every 0.2 s like the kubelet's status
    manager. Everything else (API server, endpointslice controller, operator) is real.
    """

    def __init__(self, kube: Kube, namespace: str, node: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.node = node
        self._stop = threading.Event()
        self._held = threading.Event()
        self._syncing = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ips: dict[str, str] = {}

    def register_node(self) -> None:
        """A Node object (no kubelet behind it): the endpointslice controller skips pods on unknown nodes."""
        if self.kube.get(f"/api/v1/nodes/{self.node}") is None:
            self.kube.apply({"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.node}})

    def __enter__(self) -> FakeKubelet:
        self.register_node()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    @contextlib.contextmanager
    def lagging(self) -> Iterator[None]:
        """A kubelet busy elsewhere: no status is written while the block runs (a real one answers a gate's
        change in its own time, and may answer one that has changed again meanwhile)."""
        with self._syncing:  # a pass under way writes what it decided first
            self._held.set()
        try:
            yield
        finally:
            self._held.clear()

    def write_ready(self, name: str, ready: bool) -> None:
        """Write pod ``name``'s Ready as decided earlier, whatever its gates say now: a kubelet's answer to
        a gate as it was (its status manager patches what it computed before the gate changed again)."""
        self._patch(name, _conditions(ready))

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            with self._syncing:
                if self._held.is_set():
                    continue
                try:
                    self.sync()
                except (KubectlError, urllib.error.URLError, OSError):
                    continue

    def sync(self) -> None:
        pods = self.kube.get(f"/api/v1/namespaces/{self.namespace}/pods") or {"items": []}
        for item in pods["items"]:
            if item["spec"].get("nodeName") != self.node or item["metadata"].get("deletionTimestamp"):
                continue
            wanted = self._status(item)
            current = item.get("status") or {}
            have = {c["type"]: c["status"] for c in current.get("conditions") or []}
            if current.get("phase") == "Running" and all(have.get(t) == s for t, s in wanted.items()):
                continue
            self._patch(item["metadata"]["name"], wanted)

    def _status(self, item: Mapping[str, Any]) -> dict[str, str]:
        conditions = {c["type"]: c["status"] for c in (item.get("status") or {}).get("conditions") or []}
        gates = [g["conditionType"] for g in item["spec"].get("readinessGates") or []]
        return _conditions(all(conditions.get(gate) == "True" for gate in gates))

    def _patch(self, name: str, wanted: Mapping[str, str]) -> None:
        ip = self._ips.setdefault(name, f"10.244.0.{len(self._ips) + 10}")
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        status = {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "hostIP": "127.0.0.1",
            "startTime": now,
            "conditions": [
                {"type": kind, "status": value, "lastTransitionTime": now} for kind, value in wanted.items()
            ],
        }
        self.kube.kubectl(
            "patch", "pod", name, "-n", self.namespace, "--subresource=status", "--type=strategic",
            "-p", json.dumps({"status": status}),
        )  # fmt: skip


def _conditions(ready: bool) -> dict[str, str]:
    """A running pod's conditions, its containers ready and the pod ``ready`` or not."""
    return {"PodScheduled": "True", "Initialized": "True", "ContainersReady": "True",
            "Ready": "True" if ready else "False"}  # fmt: skip


class ServiceReplica:
    """One real ``users-service`` replica (the service helper's console script) on its own port."""

    def __init__(
        self, instance: str, service: str, etcd_endpoint: str, db: Mapping[str, str], log_dir: Path
    ) -> None:
        self.instance = instance
        self.port = free_port()
        environment = {
            **os.environ,
            **db,
            "ETCD_ENDPOINTS": etcd_endpoint,
            "SERVICE_NAME": service,
            "INSTANCE_NAME": instance,
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "DRAIN_TIMEOUT": "20",
            "LOG_FORMAT": "console",
            "USERS_SERVICE_DEBUG_SLOW": "true",
        }
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = ManagedProcess(
            f"users-service-{instance}",
            [script("users-service")],
            log_dir / f"{instance}.log",
            env=environment,
        )

    def start(self) -> ServiceReplica:
        self.process.start()
        self.process.wait_until(self._live, 60, "answering /livez")
        return self

    def _live(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/livez", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def status_of(self, path: str, timeout: float = 30) -> int:
        """The HTTP status of GET ``path`` (503 included)."""
        try:
            with urllib.request.urlopen(f"{self.url}{path}", timeout=timeout) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def stop(self) -> None:
        self.process.stop()
