"""Fixtures for the users service on real PostgreSQL and etcd.

* ``service_env``: the environment of one service on a fresh database and a fresh maintenance key.
* ``start_app``: the app in this process (httpx over ASGI, lifespan run), for fast API-level tests.
* ``start_process``: the ``users-service`` console script as a real process on a free port, for start-up,
  signals and several replicas.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from kubemaint_devstack.etcd import EtcdServer
from kubemaint_devstack.postgres import PostgresServer
from kubemaint_devstack.process import free_port
from users_service.app import create_app
from users_service.settings import load_settings

from tests.support.asgi import lifespan_client

SERVICE_SCRIPT = Path(sys.executable).with_name("users-service")


@pytest.fixture
def service_env(
    postgres: PostgresServer, fresh_database: str, etcd: EtcdServer, unique_key: str
) -> dict[str, str]:
    return {
        "DB_HOST": postgres.host,
        "DB_PORT": str(postgres.port),
        "DB_USER": postgres.user,
        "DB_PASSWORD": postgres.password,
        "DB_NAME": fresh_database,
        "DB_POOL_MIN": "1",
        "DB_POOL_MAX": "5",
        "ETCD_ENDPOINTS": etcd.endpoint,
        "MAINTENANCE_KEY": unique_key,
        "DRAIN_TIMEOUT": "15",
        "LOG_FORMAT": "console",
        "LOG_LEVEL": "INFO",
        "USERS_SERVICE_DEBUG_SLOW": "true",
        "HOST": "127.0.0.1",
        "INSTANCE_NAME": f"test-{secrets.token_hex(3)}",
    }


StartApp = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def start_app(service_env: dict[str, str]) -> StartApp:
    """``async with start_app(VAR="value") as client``: the app with its lifespan, on the real stack."""

    @asynccontextmanager
    async def start(**overrides: str) -> AsyncIterator[httpx.AsyncClient]:
        async with lifespan_client(create_app(load_settings({**service_env, **overrides}))) as client:
            yield client

    return start


class ServiceProcess:
    """One ``users-service`` process; its output goes to a log file that failures show."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        inherited = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        full_env = {**inherited, "PORT": str(self.port), "PYTHONUNBUFFERED": "1", **env}
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [str(SERVICE_SCRIPT)], env=full_env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, path: str = "/livez", timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"users-service exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + path, timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"users-service not answering {path} within {timeout} s:\n{self.log()}")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()


StartProcess = Callable[..., ServiceProcess]


@pytest.fixture
def start_process(service_env: dict[str, str], tmp_path: Path) -> Iterator[StartProcess]:
    """``start_process(VAR="value")``: a started (not yet ready) service process; all stopped afterwards."""
    started: list[ServiceProcess] = []

    def start(**overrides: str) -> ServiceProcess:
        env = {**service_env, **overrides}
        env["INSTANCE_NAME"] = overrides.get(
            "INSTANCE_NAME", f"{service_env['INSTANCE_NAME']}-{len(started)}"
        )
        service = ServiceProcess(env, tmp_path / f"users-service-{len(started)}.log")
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture(scope="session")
def service_process_type() -> type[ServiceProcess]:
    """The :class:`ServiceProcess` class, for module-scoped fixtures that manage their own process."""
    return ServiceProcess
