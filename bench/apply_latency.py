"""Latency from ``kubectl apply`` of a Maintenance to the etcd change and to the users service's first 503.

Starts a real control plane (etcd + kube-apiserver + kube-controller-manager), an application etcd and
PostgreSQL (kubemaint_devstack), applies the shipped CRDs and RBAC, runs ``kubemaint-operator`` as a real
process under the ServiceAccount of ``k8s/base/rbac`` and ``users-service`` as a real process against the
same etcd. Then, ``--applies`` times (at least 50): ``kubectl apply`` a Maintenance and time until the key
holds ``enabled: true`` (5 ms etcd polls) and until ``GET /users`` first answers 503 (tight HTTP poll);
``kubectl delete`` it and time the way back (key off, first 200). The clock starts just before kubectl is
spawned, so the figures include kubectl's own start-up and round trip. Prints p50 / p99 / max in ms.

    uv run python bench/apply_latency.py [--applies 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from _kit import prepare_operator, script, service_env
from kubemaint.client import EtcdConfig
from kubemaint.store import StateStore
from kubemaint_devstack.controlplane import ControlPlane
from kubemaint_devstack.etcd import EtcdServer
from kubemaint_devstack.postgres import PostgresServer
from kubemaint_devstack.process import ManagedProcess, free_port
from kubemaint_devstack.tools import find_tool

SERVICE = "users-service"
KEY = f"/maintenance/{SERVICE}"
NAMESPACE = "bench"
TIMEOUT = 15.0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def summary(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (
        f"{name:<34} n={len(ms):<4} p50={percentile(ms, 0.50):8.1f} ms  p99={percentile(ms, 0.99):8.1f} ms  "
        f"max={max(ms):8.1f} ms  mean={statistics.fmean(ms):8.1f} ms"
    )


async def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> None:
    process = await asyncio.create_subprocess_exec(
        str(find_tool("kubectl", prefer_cache=True)), *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
    )  # fmt: skip
    _, err = await process.communicate(stdin.encode() if stdin else None)
    if process.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {err.decode().strip()}")


async def wait_key(writer: StateStore, enabled: bool, started: float) -> float:
    while True:
        raw, _ = await writer.get_raw(KEY)
        if raw and raw.startswith("{") and json.loads(raw).get("enabled") is enabled:
            return time.perf_counter() - started
        if time.perf_counter() - started > TIMEOUT:
            raise TimeoutError(f"key never became enabled={enabled}")
        await asyncio.sleep(0.005)


async def wait_http(client: httpx.AsyncClient, status: int, started: float) -> float:
    while True:
        response = await client.get("/users", params={"limit": 1})
        if response.status_code == status:
            return time.perf_counter() - started
        if time.perf_counter() - started > TIMEOUT:
            raise TimeoutError(f"the service never answered {status}")


async def measure(applies: int, kubeconfig: Path, etcd: EtcdServer, service_url: str) -> None:
    manifest = json.dumps(
        {
            "apiVersion": "kubemaint.io/v1alpha1",
            "kind": "Maintenance",
            "metadata": {"name": "bench", "namespace": NAMESPACE},
            "spec": {"service": SERVICE, "reason": "bench", "retryAfterSeconds": 5},
        }
    )
    rows: dict[str, list[float]] = {"apply -> etcd key on": [], "apply -> first 503": [],
                                    "delete -> etcd key off": [], "delete -> first 200": []}  # fmt: skip
    async with (
        StateStore.open(EtcdConfig.from_endpoints(etcd.endpoint)) as writer,
        httpx.AsyncClient(base_url=service_url, timeout=5) as client,
    ):
        await wait_http(client, 200, time.perf_counter())
        for round_ in range(applies):
            started = time.perf_counter()
            key_on, first_503, _ = await asyncio.gather(
                wait_key(writer, True, started),
                wait_http(client, 503, started),
                kubectl(kubeconfig, "apply", "-f", "-", stdin=manifest),
            )
            rows["apply -> etcd key on"].append(key_on)
            rows["apply -> first 503"].append(first_503)
            started = time.perf_counter()
            key_off, first_200, _ = await asyncio.gather(
                wait_key(writer, False, started),
                wait_http(client, 200, started),
                kubectl(kubeconfig, "delete", "maint", "bench", "-n", NAMESPACE),
            )
            rows["delete -> etcd key off"].append(key_off)
            rows["delete -> first 200"].append(first_200)
            if (round_ + 1) % 10 == 0:
                print(f"  {round_ + 1}/{applies} rounds", flush=True)
    print(f"\nkubectl apply -> effect, {applies} rounds (clock starts before kubectl is spawned):")
    for name, values in rows.items():
        print(summary(name, values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applies", type=int, default=50)
    args = parser.parse_args()
    if args.applies < 1:
        parser.error("--applies must be at least 1")
    base = Path(tempfile.mkdtemp(prefix="kubemaint-bench-"))
    base.chmod(0o711)
    processes: list[ManagedProcess] = []
    try:
        with (
            ControlPlane(base / "cp") as cluster,
            EtcdServer(base / "etcd", name="app") as etcd,
            PostgresServer(base / "postgres") as postgres,
        ):
            operator_config = prepare_operator(cluster, NAMESPACE)
            database = f"bench_{secrets.token_hex(4)}"
            postgres.create_database(database)
            port = free_port()
            service = ManagedProcess(
                SERVICE, [script("users-service")], base / "users-service.log",
                env=service_env(postgres, etcd, port, DB_NAME=database, SERVICE_NAME=SERVICE),
            )  # fmt: skip
            operator = ManagedProcess(
                "kubemaint-operator", [script("kubemaint-operator")], base / "operator.log",
                env={**os.environ, "KUBECONFIG": str(operator_config), "ETCD_ENDPOINTS": etcd.endpoint,
                     "LIVENESS_ENDPOINT": f"http://127.0.0.1:{free_port()}/healthz", "LOG_LEVEL": "WARNING",
                     "LOG_FORMAT": "console"},
            )  # fmt: skip
            processes += [service, operator]
            service.start()
            operator.start()
            time.sleep(3)  # the operator's watches start; the first round's wait covers the rest
            print(f"control plane {cluster.server}, etcd {etcd.endpoint}, service http://127.0.0.1:{port}")
            asyncio.run(measure(args.applies, cluster.kubeconfig, etcd, f"http://127.0.0.1:{port}"))
            for process in processes:
                process.stop()
    finally:
        for process in processes:
            process.kill()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
