"""The story's view of a cluster: the umbrella chart installed in a namespace that enforces the
``restricted`` Pod Security Standard, reached the ways people reach it (kubectl, helm, a port-forward, the
Service's ClusterIP from a pod). The harnesses (``kind.py``, the node of tests/conftest.py) only say how
the images get into the cluster and which values name them."""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubemaint_devstack.process import free_port
from kubemaint_operator.stand_in import ready_addresses

from tests.support.cli import Helm, kubectl_argv, run_kubectl
from tests.support.polling import seconds_until

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "charts" / "kubemaint-stack"
SERVICE_PORT = 8081
GATE = "kubemaint.io/serving"
CLIENT = "e2e-client"
Changes = list[tuple[float, str, tuple[str, ...] | None]]
"""A Service's EndpointSlice changes (:meth:`Stack.slice_history`)."""

# The in-cluster client: one request, or (with "loop") requests until its stdin closes, counting outcomes.
# It runs in a pod of the users-service image (python is there) and prints one JSON line.
_CLIENT_SCRIPT = r"""
import json, socket, sys, threading, time, urllib.error, urllib.request
url, mode = sys.argv[1], sys.argv[2]
def once():
    try:
        with urllib.request.urlopen(url, timeout=5) as rsp:
            return {"status": rsp.status, "retry_after": rsp.headers.get("Retry-After")}
    except urllib.error.HTTPError as err:
        return {"status": err.code, "retry_after": err.headers.get("Retry-After")}
    except (OSError, urllib.error.URLError) as err:
        return {"status": None, "error": type(getattr(err, "reason", err)).__name__ + ": " + str(err)}
if mode == "once":
    print(json.dumps(once()))
    sys.exit(0)
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
counts, errors, lock = {}, [], threading.Lock()
def loop():
    while not done.is_set():
        got = once()
        if got["status"] == 503 and got.get("retry_after"):
            key = "503+retry-after"
        elif got["status"] is not None and 200 <= got["status"] < 300:
            key = "2xx"
        else:
            key = "other"
        with lock:
            counts[key] = counts.get(key, 0) + 1
            if key == "other":
                errors.append({**got, "t": round(time.monotonic() - started, 2)})
        time.sleep(float(sys.argv[3]))
started, began = time.monotonic(), time.time()
workers = [threading.Thread(target=loop) for _ in range(int(sys.argv[4]))]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
print(json.dumps({"counts": counts, "errors": errors[:20], "seconds": time.monotonic() - started,
                  "began": began}))
"""


@dataclass(frozen=True)
class Answer:
    """One HTTP answer (status None: no answer at all, with ``error`` saying why)."""

    status: int | None
    retry_after: str | None = None
    error: str | None = None


@dataclass
class Stack:
    """The umbrella chart released as ``release`` in ``namespace`` of the cluster behind ``kubeconfig``."""

    kubeconfig: Path
    namespace: str
    release: str
    helm_home: Path
    values: list[str] = field(default_factory=list)
    """Helm arguments that name the cluster's images (``--values`` or ``--set``)."""

    @property
    def service(self) -> str:
        return f"{self.release}-users-service"

    @property
    def selector(self) -> str:
        return f"app.kubernetes.io/instance={self.release},app.kubernetes.io/name=users-service"

    def kubectl_argv(self, *args: str) -> list[str]:
        """A kubectl command line for this cluster and namespace."""
        return kubectl_argv(self.kubeconfig, "--namespace", self.namespace, *args)

    def run_kubectl(
        self, *args: str, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """kubectl whose failure the caller looks at (a refusal it expects)."""
        return run_kubectl(
            self.kubeconfig, "--namespace", self.namespace, *args, input=input, timeout=timeout
        )

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 120) -> str:
        result = self.run_kubectl(*args, input=input, timeout=timeout)
        assert result.returncode == 0, f"kubectl {' '.join(args)}:\n{result.stderr}"
        return result.stdout

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json"))

    def helm(self, *args: str | Path, timeout: float = 600) -> str:
        """``helm ARGS --namespace NAMESPACE`` on this cluster (the project's :class:`Helm`); its stdout."""
        return (
            Helm(self.helm_home, self.kubeconfig)
            .run(*args, "--namespace", self.namespace, timeout=timeout)
            .stdout
        )

    def pods(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get("pods", "-l", self.selector)["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def wait_all_ready(self, replicas: int = 3, timeout: float = 120) -> float:
        """Wait until ``replicas`` service pods, none of them stopping, are Ready (``kubectl wait -l``
        would also wait on a pod that is being deleted)."""
        return seconds_until(
            f"{replicas} ready service pods",
            lambda: [conditions(p).get("Ready") for p in self.pods()] == ["True"] * replicas,
            timeout,
        )

    def apply_maintenance(self, name: str, *, gate: bool, retry_after: int = 120) -> None:
        self.kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": "kubemaint.io/v1alpha1", "kind": "Maintenance", "metadata": {"name": name},
            "spec": {"service": "users-service", "reason": f"e2e: {name}", "retryAfterSeconds": retry_after,
                     "readiness": {"gate": gate}},
        }))  # fmt: skip

    def ready_endpoints(self, managed_by: str = "endpointslice-controller.k8s.io") -> list[str]:
        """The ready addresses of the Service's slices made by ``managed_by`` (by default the pods' own;
        ``kubemaint.io``: the operator's stand-in)."""
        selector = (
            f"kubernetes.io/service-name={self.service},endpointslice.kubernetes.io/managed-by={managed_by}"
        )
        slices = self.get("endpointslices", "-l", selector)["items"]
        return [
            address
            for s in slices
            for e in s.get("endpoints") or []
            if (e.get("conditions") or {}).get("ready")
            for address in e["addresses"]
        ]

    @contextlib.contextmanager
    def slice_history(self) -> Iterator[Changes]:
        """Every change of the Service's EndpointSlices while the block runs (``kubectl get --watch``),
        as (``time.time()`` seen, slice name, its ready addresses or None once deleted): what kube-proxy
        is told, for a failure to be read against."""
        watch = subprocess.Popen(
            self.kubectl_argv("get", "endpointslices", "-l", f"kubernetes.io/service-name={self.service}",
                              "--watch", "--output-watch-events", "-o", "json"),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        changes: Changes = []

        def follow() -> None:
            assert watch.stdout is not None
            decoder, buffer = json.JSONDecoder(), ""
            for line in watch.stdout:
                buffer += line
                try:
                    event, end = decoder.raw_decode(buffer.lstrip())
                except ValueError:
                    continue
                buffer = buffer.lstrip()[end:]
                item = event["object"]
                changes.append((time.time(), item["metadata"]["name"],
                                None if event["type"] == "DELETED" else ready_addresses([item])))  # fmt: skip

        reader = threading.Thread(target=follow, daemon=True)
        reader.start()
        try:
            yield changes
        finally:
            watch.terminate()
            watch.wait(10)
            reader.join(10)

    @contextlib.contextmanager
    def port_forward(self) -> Iterator[str]:
        """``kubectl port-forward svc/<release>-users-service``; yields the local base URL."""
        port = free_port()
        forward = subprocess.Popen(
            self.kubectl_argv("port-forward", f"svc/{self.service}", f"{port}:{SERVICE_PORT}"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert forward.stdout is not None
            line = forward.stdout.readline()
            assert "Forwarding from" in line, line + (forward.stderr.read() if forward.stderr else "")
            yield f"http://127.0.0.1:{port}"
        finally:
            forward.terminate()
            forward.wait(10)

    def start_client(self) -> None:
        """A pod of the users-service image that stays up, for requests from inside the cluster."""
        template = self.get("deployment", self.service)["spec"]["template"]["spec"]
        (container,) = [c for c in template["containers"] if c["name"] == "users-service"]
        self.kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": CLIENT, "labels": {"app": CLIENT}},
            "spec": {
                "automountServiceAccountToken": False, "terminationGracePeriodSeconds": 1,
                "securityContext": template["securityContext"],
                "containers": [{
                    "name": "client", "image": container["image"],
                    "imagePullPolicy": container["imagePullPolicy"],
                    "command": ["python", "-c", "import time; time.sleep(10**8)"],
                    "securityContext": container["securityContext"],
                    "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "96Mi"}},
                }],
            },
        }))  # fmt: skip
        self.kubectl("wait", "--for=condition=Ready", f"pod/{CLIENT}", "--timeout=120s")

    def cluster_url(self, path: str) -> str:
        ip = self.get("service", self.service)["spec"]["clusterIP"]
        return f"http://{ip}:{SERVICE_PORT}{path}"

    def from_cluster(self, path: str) -> Answer:
        """One GET through the Service's ClusterIP (kube-proxy), from the client pod."""
        url = self.cluster_url(path)
        out = self.kubectl("exec", CLIENT, "--", "python", "-c", _CLIENT_SCRIPT, url, "once")
        return Answer(**json.loads(out.strip().splitlines()[-1]))

    @contextlib.contextmanager
    def client_loop(self, path: str, pause: float = 0.05, workers: int = 1) -> Iterator[dict[str, Any]]:
        """GETs through the ClusterIP from the client pod (``workers`` threads, each pausing ``pause`` s
        between requests) for as long as the block runs; the dict it yields is filled with ``counts``
        (2xx, 503+retry-after, other), the first ``errors`` (each with ``t``, seconds since the loop
        began), the loop's ``seconds`` and when it ``began`` (``time.time()``, the node's clock)."""
        loop = subprocess.Popen(
            self.kubectl_argv("exec", "-i", CLIENT, "--", "python", "-c", _CLIENT_SCRIPT,
                              self.cluster_url(path), "loop", str(pause), str(workers)),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        result: dict[str, Any] = {}
        try:
            yield result
        finally:
            out, err = loop.communicate("", timeout=60)
            assert loop.returncode == 0, err
            result.update(json.loads(out.strip().splitlines()[-1]))


def request(url: str, method: str = "GET", body: object = None) -> tuple[int, dict[str, str], Any]:
    """One HTTP request from the host (through a port-forward): status, headers, decoded JSON body."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as rsp:
            raw, status, headers = rsp.read(), rsp.status, dict(rsp.headers)
    except urllib.error.HTTPError as err:
        raw, status, headers = err.read(), err.code, dict(err.headers)
    return status, headers, json.loads(raw) if raw else None


def conditions(pod: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in pod["status"].get("conditions") or []}
