"""A single-member etcd server on 127.0.0.1 for tests and the demo, with an etcdctl wrapper.

Plain HTTP by default; ``tls=True`` serves HTTPS with a certificate from a CA of its own (:mod:`.pki`), and
``client_cert_auth=True`` also demands a client certificate signed by that CA.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import ssl
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

from .pki import Pki, ensure_etcd_pki
from .process import ManagedProcess, Server, ensure_free, free_port
from .tools import find_tool


class EtcdServer(Server):
    """etcd with a data dir and client port that stay the same across stop/kill/restart."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        name: str = "etcd",
        *,
        peer_port: int | None = None,
        log_path: Path | None = None,
        detach: bool = False,
        start_timeout: float = 30.0,
        tls: bool = False,
        client_cert_auth: bool = False,
        pki_dir: Path | None = None,
    ) -> None:
        """``tls``: serve HTTPS with certificates under ``pki_dir`` (default ``<data_dir>.pki``, created on
        start, kept across restarts); ``client_cert_auth`` (needs ``tls``): refuse clients without a
        certificate signed by that CA."""
        if client_cert_auth and not tls:
            raise ValueError("client_cert_auth needs tls=True")
        self.tls = tls
        self.client_cert_auth = client_cert_auth
        self.pki: Pki | None = Pki(pki_dir or data_dir.with_name(f"{data_dir.name}.pki")) if tls else None
        self._ssl_context: ssl.SSLContext | None = None
        self.data_dir = data_dir
        self.name = name
        self.port = port or free_port()
        self.peer_port = peer_port or free_port()
        self.start_timeout = start_timeout
        self.log_path = log_path or data_dir.with_name(f"{data_dir.name}.log")
        peer = f"http://127.0.0.1:{self.peer_port}"
        argv: list[str | os.PathLike[str]] = [
            find_tool("etcd", prefer_cache=True),
            f"--name={name}",
            f"--data-dir={data_dir}",
            f"--listen-client-urls={self.endpoint}",
            f"--advertise-client-urls={self.endpoint}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster={name}={peer}",
            "--initial-cluster-state=new",
            "--unsafe-no-fsync",  # test data only: a killed process still keeps its writes (page cache)
            "--log-level=warn",
        ]
        if self.pki is not None:
            argv += [
                f"--cert-file={self.pki.crt('server')}",
                f"--key-file={self.pki.key('server')}",
            ]
        if client_cert_auth and self.pki is not None:
            argv += ["--client-cert-auth", f"--trusted-ca-file={self.pki.ca_file}"]
        self.process = ManagedProcess(
            f"etcd {name}", argv, self.log_path, stop_signal=signal.SIGTERM, detach=detach
        )

    @property
    def endpoint(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def _tls_pki(self) -> Pki:
        if self.pki is None:
            raise RuntimeError(f"etcd {self.name} does not serve TLS (EtcdServer(..., tls=True))")
        return self.pki

    @property
    def ca_file(self) -> Path:
        """The CA that signed the server and client certificates (TLS mode only)."""
        return self._tls_pki().ca_file

    @property
    def client_cert_file(self) -> Path:
        """A client certificate this server accepts (TLS mode only)."""
        return self._tls_pki().crt("client")

    @property
    def client_key_file(self) -> Path:
        """The key of :attr:`client_cert_file`."""
        return self._tls_pki().key("client")

    @property
    def running(self) -> bool:
        return self.process.running

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"{self.endpoint}/health", timeout=1.0, context=self._ssl_context
            ) as response:
                body: dict[str, Any] = json.loads(response.read())
        except (OSError, ValueError):
            return False
        return body.get("health") == "true"

    def start(self) -> None:
        """Start etcd and wait until /health says true."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        if self.pki is not None:
            ensure_etcd_pki(self.pki.directory)
            context = ssl.create_default_context(cafile=str(self.ca_file))
            context.load_cert_chain(self.client_cert_file, self.client_key_file)
            self._ssl_context = context
        ensure_free(self.port, self.process.name)
        self.process.start()
        self.process.wait_until(self._healthy, self.start_timeout, "healthy")

    def stop(self) -> None:
        """Graceful stop (SIGTERM, then SIGKILL after a bound)."""
        self.process.stop()

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        self.process.kill()

    def restart(self) -> None:
        self.stop()
        self.start()

    def etcdctl(self, *args: str, input: str | None = None) -> str:
        """Run etcdctl against this server and return its stdout (raises on a non-zero exit)."""
        tls: list[str] = []
        if self.pki is not None:
            tls = [
                f"--cacert={self.ca_file}",
                f"--cert={self.client_cert_file}",
                f"--key={self.client_key_file}",
            ]
        result = subprocess.run(
            [find_tool("etcdctl", prefer_cache=True), f"--endpoints={self.endpoint}", *tls, *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"etcdctl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def put(self, key: str, value: str) -> int:
        """Write ``key`` (value passed on stdin, so any text works) and return the new revision."""
        out = self.etcdctl("put", "--write-out=json", key, input=value)
        return int(json.loads(out)["header"]["revision"])

    def get(self, key: str) -> str | None:
        out = json.loads(self.etcdctl("get", "--write-out=json", key))
        kvs = out.get("kvs") or []
        return base64.b64decode(kvs[0].get("value", "")).decode() if kvs else None

    def mod_revision(self, key: str) -> int:
        """The revision of ``key``'s last write (0: missing): unchanged means nobody rewrote it."""
        kvs = json.loads(self.etcdctl("get", "--write-out=json", key)).get("kvs") or []
        return int(kvs[0].get("mod_revision", 0)) if kvs else 0

    def delete(self, key: str) -> int:
        """Delete ``key``; return how many keys were deleted."""
        out = json.loads(self.etcdctl("del", "--write-out=json", key))
        return int(out.get("deleted", 0))

    def revision(self) -> int:
        out = json.loads(self.etcdctl("endpoint", "status", "--write-out=json"))
        return int(out[0]["Status"]["header"]["revision"])

    def compact(self, revision: int) -> None:
        self.etcdctl("compact", "--physical", str(revision))
