"""What the benchmarks that run the service or the operator share (a module, not a benchmark: ``make bench``
skips it)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from datetime import datetime
from pathlib import Path

import httpx
from kubemaint_devstack.controlplane import ControlPlane
from kubemaint_devstack.etcd import EtcdServer
from kubemaint_devstack.postgres import PostgresServer
from kubemaint_devstack.process import ManagedProcess, free_port

REPO = Path(__file__).resolve().parents[1]


def script(name: str) -> str:
    """A console script of this virtual environment (``users-service``, ``kubemaint-operator``)."""
    return str(Path(sys.executable).parent / name)


def prepare_operator(cluster: ControlPlane, namespace: str) -> Path:
    """The shipped CRDs, RBAC and peering object applied, and ``namespace`` made; returns a kubeconfig for
    the operator's ServiceAccount (the identity the chart gives it)."""
    cluster.kubectl("apply", "-f", str(REPO / "k8s/base/crd"))
    cluster.kubectl("wait", "--for=condition=Established", "crd/maintenances.kubemaint.io",
                    "crd/clusterkopfpeerings.kopf.dev")  # fmt: skip
    kubeconfig = cluster.token_kubeconfig("kubemaint-system", "kubemaint-operator")
    cluster.kubectl("apply", "-f", str(REPO / "k8s/base/rbac"))
    cluster.kubectl("apply", "-f", str(REPO / "k8s/base/peering"))
    cluster.kubectl("create", "namespace", namespace)
    return kubeconfig


def service_env(postgres: PostgresServer, etcd: EtcdServer, port: int, **extra: str) -> dict[str, str]:
    """The environment of a ``users-service`` on ``postgres`` and ``etcd`` at ``127.0.0.1:port``."""
    return {
        **os.environ,
        "DB_HOST": postgres.host, "DB_PORT": str(postgres.port), "DB_USER": postgres.user,
        "DB_PASSWORD": postgres.password, "DB_NAME": postgres.database, "ETCD_ENDPOINTS": etcd.endpoint,
        "HOST": "127.0.0.1", "PORT": str(port), "LOG_LEVEL": "WARNING", "LOG_FORMAT": "console",
        **extra,
    }  # fmt: skip


def start_service(
    log: Path, postgres: PostgresServer, etcd: EtcdServer, *, prefix: tuple[str, ...] = (), **extra: str
) -> tuple[subprocess.Popen[bytes], str]:
    """A ``users-service`` process (``prefix``: a wrapper such as a profiler), ready; its base URL."""
    port = free_port()
    with log.open("wb") as out:
        env = service_env(postgres, etcd, port, **extra)
        process = subprocess.Popen(
            [*prefix, script("users-service")], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    sys.exit(f"users-service not ready:\n{log.read_text()}")


def rss_mib(pid: int) -> float:
    """The resident set of process ``pid`` now, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakRss:
    """``with PeakRss(pid) as peak:`` samples ``pid``'s resident set every 0.2 s; ``peak.mib`` is the most."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.mib = rss_mib(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self.mib = max(self.mib, rss_mib(self.pid))


OPERATOR_USER = "system:serviceaccount:kubemaint-system:kubemaint-operator"
_METRIC = re.compile(r"^(grpc_server_handled_total|grpc_server_msg_received_total)\{([^}]*)\} ([0-9.e+]+)$")


def etcd_requests(etcd: EtcdServer) -> Counter[str]:
    """etcd's gRPC counters: unary calls handled, and messages received on streams, by service/method."""
    with urllib.request.urlopen(f"{etcd.endpoint}/metrics", timeout=10) as response:
        text = response.read().decode()
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        match = _METRIC.match(line)
        if match is None:
            continue
        labels = dict(part.split("=", 1) for part in match.group(2).split(","))
        method = labels.get("grpc_method", "").strip('"')
        kind = "unary" if match.group(1) == "grpc_server_handled_total" else "stream message"
        if (kind == "unary") != (labels.get("grpc_type", "").strip('"') == "unary"):
            continue  # a stream's end, or a unary call's one message (already counted as handled)
        counts[f"{kind} {method}"] += int(float(match.group(3)))
    return counts


def api_requests(audit: Path, since: datetime, until: datetime) -> Counter[str]:
    """The operator's requests received in [since, until), by verb and resource (one per audit ID)."""
    seen: dict[str, str] = {}
    for line in audit.read_text().splitlines():
        event = json.loads(line)
        if event.get("user", {}).get("username") != OPERATOR_USER:
            continue
        received = datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00"))
        if since <= received < until:
            ref = event.get("objectRef", {})
            resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
            seen[event["auditID"]] = f"{event['verb']} {resource or event.get('requestURI', '')}"
    return Counter(seen.values())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def describe(counts: Counter[str]) -> str:
    return ", ".join(f"{name}: {n}" for name, n in sorted(counts.items()) if n) or "none"


def operator_process(kubeconfig: Path, etcd: EtcdServer, log: Path, resync: str | None) -> ManagedProcess:
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "ETCD_ENDPOINTS": etcd.endpoint,
        "LIVENESS_ENDPOINT": f"http://127.0.0.1:{free_port()}/healthz",
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
    }
    if resync is not None:
        env["RESYNC_SECONDS"] = resync
    return ManagedProcess("kubemaint-operator", [script("kubemaint-operator")], log, env=env)
