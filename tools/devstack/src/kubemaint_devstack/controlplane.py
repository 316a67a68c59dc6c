"""A real Kubernetes control plane without Docker: etcd, kube-apiserver, kube-controller-manager.

Secure port only, a generated CA, RBAC and Node authorization, an admin identity in system:masters, and
service-account tokens (TokenRequest) for least-privilege identities. Without ``node=True`` there is no
kubelet and pods never run. With it, the control plane is the one a node needs
(:mod:`kubemaint_devstack.node`): kube-scheduler, the controllers of a real cluster, the node's address
advertised for ``kubernetes.default``, and the API server reaching kubelets through the node's CONNECT
proxy (an egress selector over a unix socket), since the node's addresses exist only in its namespace.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .etcd import EtcdServer
from .kubeconfig import write_kubeconfig
from .nodenet import NODE_IP
from .pki import Pki, ensure_pki
from .process import ManagedProcess, Server, ensure_free, free_port
from .tools import find_tool

CONTROLLERS = (
    "deployment-controller",
    "replicaset-controller",
    "endpoints-controller",
    "endpointslice-controller",
    "endpointslice-mirroring-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "garbage-collector-controller",
    "clusterrole-aggregation-controller",
    "root-ca-certificate-publisher-controller",
)
NODE_CONTROLLERS = (
    "statefulset-controller",
    "daemonset-controller",
    "job-controller",
    "disruption-controller",
    "node-lifecycle-controller",
    "taint-eviction-controller",
    "pod-garbage-collector-controller",
    "ttl-controller",
    "persistentvolume-binder-controller",
    "persistentvolume-protection-controller",
    "persistentvolumeclaim-protection-controller",
    "ttl-after-finished-controller",
    "cronjob-controller",
)
"""What pods on a node need besides CONTROLLERS: StatefulSets and PDBs of the charts, node health."""
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


_AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [{"level": "Metadata"}],
}
_NO_NODE_FLAGS = ("--endpoint-reconciler-type=none",)  # a loopback address may not be an Endpoints address


class KubectlError(RuntimeError):
    """kubectl exited non-zero; the message carries its stderr."""


class ControlPlane(Server):
    """Start with ``start()`` (waits for /readyz and a working controller-manager), stop with ``stop()``."""

    def __init__(
        self,
        base_dir: Path,
        *,
        port: int | None = None,
        etcd_port: int | None = None,
        detach: bool = False,
        start_timeout: float = 120.0,
        node: bool = False,
        audit_log: Path | None = None,
    ) -> None:
        """``audit_log``: write an audit event per request of every client there (Metadata level, JSON
        lines; a benchmark counts a client's requests with it)."""
        self.base_dir = base_dir
        self.audit_log = audit_log
        self.node = node
        self.port = port or free_port()
        self.start_timeout = start_timeout
        self.pki = Pki(base_dir / "pki")
        logs = base_dir / "logs"
        self.etcd = EtcdServer(
            base_dir / "etcd", etcd_port, name="kube", log_path=logs / "etcd.log", detach=detach
        )
        pki = self.pki
        self.apiserver = ManagedProcess(
            "kube-apiserver",
            [
                find_tool("kube-apiserver", prefer_cache=True),
                f"--etcd-servers={self.etcd.endpoint}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.port}",
                f"--cert-dir={pki.directory}",
                f"--tls-cert-file={pki.crt('apiserver')}",
                f"--tls-private-key-file={pki.key('apiserver')}",
                f"--client-ca-file={pki.ca_file}",
                "--authorization-mode=Node,RBAC",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={pki.sa_pub}",
                f"--service-account-signing-key-file={pki.sa_key}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--profiling=false",
                *(self._node_flags() if node else _NO_NODE_FLAGS),
                *(self._audit_flags(audit_log) if audit_log is not None else ()),
            ],
            logs / "kube-apiserver.log",
            detach=detach,
        )
        self.controller_manager = ManagedProcess(
            "kube-controller-manager",
            [
                find_tool("kube-controller-manager", prefer_cache=True),
                f"--kubeconfig={base_dir / 'controller-manager.kubeconfig'}",
                f"--controllers={','.join(CONTROLLERS + (NODE_CONTROLLERS if node else ()))}",
                f"--service-account-private-key-file={pki.sa_key}",
                f"--root-ca-file={pki.ca_file}",
                "--use-service-account-credentials=true",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
            ],
            logs / "kube-controller-manager.log",
            detach=detach,
        )

        self.scheduler = (
            ManagedProcess(
                "kube-scheduler",
                [
                    find_tool("kube-scheduler", prefer_cache=True),
                    f"--kubeconfig={base_dir / 'scheduler.kubeconfig'}",
                    "--leader-elect=false",
                    "--bind-address=127.0.0.1",
                    "--secure-port=0",
                ],
                logs / "kube-scheduler.log",
                detach=detach,
            )
            if node
            else None
        )

    @property
    def egress_socket(self) -> Path:
        """Where the node's CONNECT proxy listens for the API server (``node=True``)."""
        return self.base_dir / "node-egress.sock"

    def _audit_flags(self, log: Path) -> list[str]:
        policy = self.base_dir / "audit-policy.json"
        return [f"--audit-policy-file={policy}", f"--audit-log-path={log}", "--audit-log-maxbackup=0"]

    def _node_flags(self) -> list[str]:
        egress = self.base_dir / "egress-selector.yaml"
        egress.parent.mkdir(parents=True, exist_ok=True)
        egress.write_text(
            json.dumps({
                "apiVersion": "apiserver.k8s.io/v1beta1",
                "kind": "EgressSelectorConfiguration",
                "egressSelections": [{
                    "name": "cluster",
                    "connection": {"proxyProtocol": "HTTPConnect",
                                   "transport": {"uds": {"udsName": str(self.egress_socket)}}},
                }],
            })
        )  # fmt: skip
        return [
            f"--advertise-address={NODE_IP}",  # kubernetes.default's endpoint, as pods reach it
            f"--kubelet-client-certificate={self.pki.crt('kubelet-client')}",
            f"--kubelet-client-key={self.pki.key('kubelet-client')}",
            "--kubelet-preferred-address-types=InternalIP",
            f"--egress-selector-config-file={egress}",
        ]

    @property
    def processes(self) -> tuple[ManagedProcess, ...]:
        """Every process of this control plane, in start order."""
        base = (self.etcd.process, self.apiserver, self.controller_manager)
        return base if self.scheduler is None else (*base, self.scheduler)

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (client certificate in system:masters)."""
        return self.base_dir / "admin.kubeconfig"

    @property
    def ca_file(self) -> Path:
        return self.pki.ca_file

    @property
    def pids(self) -> dict[str, int | None]:
        return {p.name: p.pid for p in self.processes}

    def _ssl(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki.ca_file))
        context.load_cert_chain(self.pki.crt("admin"), self.pki.key("admin"))
        return context

    def api_get(self, path: str) -> Any:
        """GET ``path`` as admin and return the decoded JSON (raises urllib.error.HTTPError)."""
        with urllib.request.urlopen(self.server + path, timeout=10, context=self._ssl()) as response:
            return json.loads(response.read())

    def api_stream(self, path: str, timeout: float) -> ApiStream:
        """Open ``path`` as admin for reading line by line (a watch); the caller closes it."""
        return ApiStream(self.server, path, timeout, self._ssl())

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.server}/readyz", timeout=5, context=self._ssl()) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.HTTPError):
            return False

    def _controllers_working(self) -> bool:
        # The serviceaccount controller makes "default" in every namespace: proof that it runs.
        try:
            self.api_get("/api/v1/namespaces/default/serviceaccounts/default")
        except (OSError, urllib.error.HTTPError):
            return False
        return True

    def start(self) -> None:
        """Start etcd, kube-apiserver (wait for /readyz), kube-controller-manager (wait until it acts)."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if self.audit_log is not None:
            (self.base_dir / "audit-policy.json").write_text(json.dumps(_AUDIT_POLICY))
        ensure_pki(self.pki.directory)
        pki = self.pki
        write_kubeconfig(
            self.kubeconfig, server=self.server, ca_file=pki.ca_file, user="kubemaint-admin",
            client_cert=pki.crt("admin"), client_key=pki.key("admin"),
        )  # fmt: skip
        write_kubeconfig(
            self.base_dir / "controller-manager.kubeconfig", server=self.server, ca_file=pki.ca_file,
            user="system:kube-controller-manager", client_cert=pki.crt("controller-manager"),
            client_key=pki.key("controller-manager"),
        )  # fmt: skip
        try:
            self.etcd.start()
            ensure_free(self.port, "kube-apiserver")
            self.apiserver.start()
            self.apiserver.wait_until(self._ready, self.start_timeout, "ready (/readyz)")
            self.controller_manager.start()
            self.controller_manager.wait_until(
                self._controllers_working, self.start_timeout, "creating the default ServiceAccount"
            )
            if self.scheduler is not None:
                write_kubeconfig(
                    self.base_dir / "scheduler.kubeconfig", server=self.server, ca_file=pki.ca_file,
                    user="system:kube-scheduler", client_cert=pki.crt("scheduler"),
                    client_key=pki.key("scheduler"),
                )  # fmt: skip
                self.scheduler.start()
        except BaseException:
            self.stop()
            raise

    def restart_apiserver(self) -> None:
        """Stop kube-apiserver and start it again on the same port (a drill: its clients must reconnect)."""
        self.apiserver.stop()
        self.apiserver.start()
        self.apiserver.wait_until(self._ready, self.start_timeout, "ready (/readyz) again")

    def stop(self) -> None:
        """Stop the scheduler, the controller-manager, the apiserver, then etcd (SIGTERM, then SIGKILL)."""
        if self.scheduler is not None:
            self.scheduler.stop()
        self.controller_manager.stop()
        self.apiserver.stop()
        self.etcd.stop()

    def kubectl(self, *args: str, input: str | None = None, kubeconfig: Path | None = None) -> str:
        """Run the built kubectl (admin identity unless ``kubeconfig``); return stdout, raise on failure."""
        env = {**os.environ, "KUBECONFIG": str(kubeconfig or self.kubeconfig)}
        result = subprocess.run(
            [find_tool("kubectl", prefer_cache=True), *args],
            input=input, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise KubectlError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def token_kubeconfig(self, namespace: str, sa_name: str, *, duration: str = "24h") -> Path:
        """Make sure the namespace and ServiceAccount exist, request a token for it (TokenRequest) and
        write a kubeconfig for that identity. Its rights are exactly what RBAC grants the account."""
        manifest = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": sa_name, "namespace": namespace},
            },
        ]
        self.kubectl(
            "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": manifest})
        )
        token = self.kubectl("create", "token", sa_name, "-n", namespace, f"--duration={duration}").strip()
        return write_kubeconfig(
            self.base_dir / "kubeconfigs" / f"{namespace}.{sa_name}.kubeconfig",
            server=self.server, ca_file=self.pki.ca_file, user=f"system:serviceaccount:{namespace}:{sa_name}",
            token=token, namespace=namespace,
        )  # fmt: skip


class ApiStream:
    """A streamed GET (a watch): one thread iterates over its lines; ``close`` from any thread ends the
    iteration, even while it waits for the next line (the iterating thread then closes the connection)."""

    def __init__(self, server: str, path: str, timeout: float, context: ssl.SSLContext) -> None:
        url = urllib.parse.urlsplit(server)
        self._connection = http.client.HTTPSConnection(
            url.hostname or "", url.port, timeout=timeout, context=context
        )
        self._connection.request("GET", path)
        self._response = self._connection.getresponse()
        self._closed = False
        if self._response.status != 200:
            raise OSError(f"GET {path}: {self._response.status} {self._response.read()[:200]!r}")

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._response
        except (OSError, ValueError, http.client.HTTPException):
            if not self._closed:
                raise
        finally:
            self._connection.close()

    def close(self) -> None:
        self._closed = True
        sock = self._connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the iterating thread
