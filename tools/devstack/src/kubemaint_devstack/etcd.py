"""A single-member etcd server on 127.0.0.1 for tests and the demo, with an etcdctl wrapper."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from .process import ManagedProcess, ensure_free, free_port
from .tools import find_tool


class EtcdServer:
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
    ) -> None:
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
        self.process = ManagedProcess(
            f"etcd {name}", argv, self.log_path, stop_signal=signal.SIGTERM, detach=detach
        )

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process.running

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/health", timeout=1.0) as response:
                body: dict[str, Any] = json.loads(response.read())
        except (OSError, ValueError):
            return False
        return body.get("health") == "true"

    def start(self) -> None:
        """Start etcd and wait until /health says true."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
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
        result = subprocess.run(
            [find_tool("etcdctl", prefer_cache=True), f"--endpoints={self.endpoint}", *args],
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

    def delete(self, key: str) -> int:
        """Delete ``key``; return how many keys were deleted."""
        out = json.loads(self.etcdctl("del", "--write-out=json", key))
        return int(out.get("deleted", 0))

    def revision(self) -> int:
        out = json.loads(self.etcdctl("endpoint", "status", "--write-out=json"))
        return int(out[0]["Status"]["header"]["revision"])

    def compact(self, revision: int) -> None:
        self.etcdctl("compact", "--physical", str(revision))

    def __enter__(self) -> EtcdServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
