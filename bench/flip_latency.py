"""Flip latency of the users service: etcd put -> first 503 seen by a client, and back.

Starts PostgreSQL and etcd (kubemaint_devstack) and the ``users-service`` console script as a real process,
then for each of ``--flips`` rounds: puts ``true`` on the maintenance key (the GoMaint word, exactly what
``etcdctl put <key> true`` writes) and times until a tight HTTP poll of ``GET /users`` first sees 503; then
puts ``false`` and times until the first 200. The clock starts just before the put is sent, so the figure
includes the put's own round trip. Prints p50 / p99 / max in milliseconds.

    uv run python bench/flip_latency.py [--flips 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from kubemaint.client import EtcdConfig, connect, kv_of
from kubemaint_devstack.etcd import EtcdServer
from kubemaint_devstack.postgres import PostgresServer
from kubemaint_devstack.process import free_port

KEY = "/maintenance/users-service-bench"
POLL_TIMEOUT = 10.0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (
        f"{name:<26} n={len(ms):<4} p50={percentile(ms, 0.50):7.2f} ms  p99={percentile(ms, 0.99):7.2f} ms  "
        f"max={max(ms):7.2f} ms  mean={statistics.fmean(ms):7.2f} ms"
    )


Put = Callable[[str, str], Awaitable[None]]


async def flip(client: httpx.AsyncClient, put: Put, value: str, want: int) -> float:
    started = time.perf_counter()
    await put(KEY, value)
    while True:
        response = await client.get("/users", params={"limit": 1})
        if response.status_code == want:
            return time.perf_counter() - started
        if time.perf_counter() - started > POLL_TIMEOUT:
            raise RuntimeError(f"no {want} within {POLL_TIMEOUT} s after putting {value!r}")


async def run(url: str, etcd_endpoint: str, flips: int) -> tuple[list[float], list[float]]:
    client_etcd = await connect(EtcdConfig.from_endpoints(etcd_endpoint))
    kv = kv_of(client_etcd)

    async def put(key: str, value: str) -> None:
        await kv.put(key, value)

    on: list[float] = []
    off: list[float] = []
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5.0) as client:
            for _ in range(5):  # warm-up: HTTP and etcd connections, pool, code paths
                await flip(client, put, "true", 503)
                await flip(client, put, "false", 200)
            for _ in range(flips):
                on.append(await flip(client, put, "true", 503))
                off.append(await flip(client, put, "false", 200))
    finally:
        await client_etcd.close()
    return on, off


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"users-service exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    sys.exit(f"users-service not ready:\n{log.read_text()}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--flips", type=int, default=200, help="maintenance on/off rounds (default 200)")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="kubemaint-bench-"))
    base.chmod(0o711)  # the unprivileged PostgreSQL user must traverse it when run as root
    service: subprocess.Popen[bytes] | None = None
    try:
        with PostgresServer(base / "postgres") as postgres, EtcdServer(base / "etcd", name="bench") as etcd:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            env = {
                **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
                "DB_HOST": postgres.host,
                "DB_PORT": str(postgres.port),
                "DB_USER": postgres.user,
                "DB_PASSWORD": postgres.password,
                "DB_NAME": postgres.database,
                "ETCD_ENDPOINTS": etcd.endpoint,
                "MAINTENANCE_KEY": KEY,
                "HOST": "127.0.0.1",
                "PORT": str(port),
                "LOG_LEVEL": "WARNING",
                "LOG_FORMAT": "console",
            }
            log = base / "users-service.log"
            with log.open("wb") as out:
                script = Path(sys.executable).with_name("users-service")
                service = subprocess.Popen([str(script)], env=env, stdout=out, stderr=subprocess.STDOUT)
            wait_ready(url, service, log)
            on, off = asyncio.run(run(url, etcd.endpoint, args.flips))
            print(f"users-service flip latency over {args.flips} flips (etcd put -> first answer seen):")
            print(summary("put true  -> first 503", on))
            print(summary("put false -> first 200", off))
    finally:
        if service is not None and service.poll() is None:
            service.terminate()
            service.wait(30)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
