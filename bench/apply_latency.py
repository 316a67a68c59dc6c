"""Apply latency: from the API server accepting a Maintenance to the etcd key, the first 503, every gated
pod's condition and ``Drained``; and the way back on delete. Baseline: a plain watch client's delay for a
ConfigMap write, in the same rounds.

Starts a real control plane (etcd + kube-apiserver + kube-controller-manager), an application etcd and
PostgreSQL (kubemaint_devstack), applies the shipped CRDs and RBAC, runs ``kubemaint-operator`` as a real
process under the ServiceAccount of ``k8s/base/rbac`` and ``users-service`` as a real process against the
same etcd. Three pods carry the readiness gate (no kubelet: they stay Pending; the operator's patches of
their condition do not depend on it). Each round, interleaved:

* **baseline**: create a ConfigMap through the API and time until a watch of ConfigMaps delivers it (the
  API write and watch delivery that any controller pays before it can act);
* **create**: create the Maintenance through the API (the clock starts before the request; the API
  server's answer is "accepted") and time until the key holds ``enabled: true`` (5 ms etcd polls), until
  ``GET /users`` first answers 503, until every gated pod's condition is False and until ``Drained`` is
  True (both from watches);
* **delete**: the same on the way back (key off, first 200, every condition True, the object gone).

The operator's share is "accepted -> key written" minus the baseline. A second pass times the whole
``kubectl apply`` -> first 503 (kubectl's own start-up included). Prints p50 / p99 / max in ms and writes
``bench/out/apply_latency.json`` and a PNG of the distributions.

    uv run python bench/apply_latency.py [--rounds 50]
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import kubernetes_asyncio.client
import kubernetes_asyncio.config
from _kit import prepare_operator, script, service_env
from _out import distributions, percentile, write
from kubemaint.client import EtcdConfig
from kubemaint.store import StateStore
from kubemaint_devstack.controlplane import ControlPlane
from kubemaint_devstack.etcd import EtcdServer
from kubemaint_devstack.postgres import PostgresServer
from kubemaint_devstack.process import ManagedProcess, free_port
from kubemaint_devstack.tools import find_tool
from kubernetes_asyncio import watch

SERVICE = "users-service"
KEY = f"/maintenance/{SERVICE}"
NAMESPACE = "bench"
TIMEOUT = 15.0
GATE = "kubemaint.io/serving"
GROUP, VERSION, PLURAL = "kubemaint.io", "v1alpha1", "maintenances"
MANIFEST = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "Maintenance",
    "metadata": {"name": "bench", "namespace": NAMESPACE},
    "spec": {"service": SERVICE, "reason": "bench", "retryAfterSeconds": 5},
}


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


Check = Callable[[str, dict[str, Any]], bool]


class Watcher:
    """One watch of a kind in NAMESPACE; ``until(check)`` resolves at the first event ``check`` accepts,
    with the time it arrived."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._waiting: list[tuple[Check, asyncio.Future[float]]] = []
        self.latest: dict[str, dict[str, Any]] = {}

    def until(self, check: Check) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting.append((check, future))
        return future

    def seen(self, kind: str, item: dict[str, Any]) -> None:
        now = time.perf_counter()
        name = item["metadata"]["name"]
        if kind == "DELETED":
            self.latest.pop(name, None)
        else:
            self.latest[name] = item
        for check, future in list(self._waiting):
            if not future.done() and check(kind, item):
                future.set_result(now)
                self._waiting.remove((check, future))

    async def run(self, list_call: Callable[..., Any], *args: Any) -> None:
        """Watch until cancelled; a watch that ends or fails (an ERROR event, say) is started again."""
        while True:
            stream = watch.Watch()
            try:
                async for event in stream.stream(list_call, *args, timeout_seconds=3600):
                    item = dict(event["raw_object"])
                    if event["type"] in {"ADDED", "MODIFIED", "DELETED"} and "name" in item.get(
                        "metadata", {}
                    ):
                        self.seen(str(event["type"]), item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                print(f"watch of {self.name} ended ({type(exc).__name__}: {exc}); watching again")
            finally:
                stream.stop()
                await stream.close()
            await asyncio.sleep(0.05)


def _condition(item: dict[str, Any], kind: str) -> str | None:
    for condition in (item.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return str(condition.get("status"))
    return None


async def _since(started: float, future: asyncio.Future[float]) -> float:
    return await asyncio.wait_for(future, TIMEOUT) - started


async def measure(
    rounds: int, kubeconfig: Path, etcd: EtcdServer, service_url: str
) -> dict[str, list[float]]:
    rows: dict[str, list[float]] = {name: [] for name in (
        "baseline: ConfigMap write -> watch", "create accepted", "create -> key on", "create -> first 503",
        "create -> pods gated", "create -> Drained", "delete -> key off", "delete -> first 200",
        "delete -> pods serving", "delete -> object gone", "kubectl apply -> first 503",
    )}  # fmt: skip
    api = kubernetes_asyncio.client.ApiClient(await _configuration(kubeconfig))
    core, custom = kubernetes_asyncio.client.CoreV1Api(api), kubernetes_asyncio.client.CustomObjectsApi(api)
    maintenances, pods, configmaps = Watcher("maintenances"), Watcher("pods"), Watcher("configmaps")
    watches = [
        asyncio.create_task(
            maintenances.run(custom.list_namespaced_custom_object, GROUP, VERSION, NAMESPACE, PLURAL)
        ),
        asyncio.create_task(pods.run(core.list_namespaced_pod, NAMESPACE)),
        asyncio.create_task(configmaps.run(core.list_namespaced_config_map, NAMESPACE)),
    ]
    for n in range(3):
        await core.create_namespaced_pod(NAMESPACE, gated_pod(f"{SERVICE}-{n}"))  # type: ignore[arg-type]

    def every_gate(value: str) -> Check:
        def check(_: str, item: dict[str, Any]) -> bool:
            gates = [_condition(pod, GATE) for pod in pods.latest.values()]
            return len(gates) == 3 and all(gate == value for gate in gates)

        return check

    try:
        async with (
            StateStore.open(EtcdConfig.from_endpoints(etcd.endpoint)) as writer,
            httpx.AsyncClient(base_url=service_url, timeout=5) as client,
        ):
            await asyncio.wait_for(pods.until(every_gate("True")), 60)
            await wait_http(client, 200, time.perf_counter())
            for round_ in range(rounds):
                name = f"cm-{round_}"
                started = time.perf_counter()
                seen = configmaps.until(lambda kind, item, name=name: item["metadata"]["name"] == name)
                await core.create_namespaced_config_map(NAMESPACE, {"metadata": {"name": name}})  # type: ignore[arg-type]
                rows["baseline: ConfigMap write -> watch"].append(await _since(started, seen))
                await core.delete_namespaced_config_map(name, NAMESPACE)

                drained = maintenances.until(lambda _, item: _condition(item, "Drained") == "True")
                gated = pods.until(every_gate("False"))
                started = time.perf_counter()
                key_on = asyncio.ensure_future(wait_key(writer, True, started))
                first_503 = asyncio.ensure_future(wait_http(client, 503, started))
                await custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, MANIFEST)
                rows["create accepted"].append(time.perf_counter() - started)
                rows["create -> key on"].append(await key_on)
                rows["create -> first 503"].append(await first_503)
                rows["create -> pods gated"].append(await _since(started, gated))
                rows["create -> Drained"].append(await _since(started, drained))

                gone = maintenances.until(lambda kind, _: kind == "DELETED")
                serving = pods.until(every_gate("True"))
                started = time.perf_counter()
                key_off = asyncio.ensure_future(wait_key(writer, False, started))
                first_200 = asyncio.ensure_future(wait_http(client, 200, started))
                await custom.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, "bench")
                rows["delete -> key off"].append(await key_off)
                rows["delete -> first 200"].append(await first_200)
                rows["delete -> pods serving"].append(await _since(started, serving))
                rows["delete -> object gone"].append(await _since(started, gone))

                gone = maintenances.until(lambda kind, _: kind == "DELETED")
                gated = pods.until(every_gate("False"))
                started = time.perf_counter()
                first_503 = asyncio.ensure_future(wait_http(client, 503, started))
                await kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(MANIFEST))
                rows["kubectl apply -> first 503"].append(await first_503)
                await asyncio.wait_for(gated, TIMEOUT)
                serving = pods.until(every_gate("True"))
                await kubectl(kubeconfig, "delete", "maint", "bench", "-n", NAMESPACE)
                await asyncio.wait_for(gone, TIMEOUT)
                await asyncio.wait_for(serving, TIMEOUT)
                await wait_http(client, 200, time.perf_counter())
                if (round_ + 1) % 10 == 0:
                    print(f"  {round_ + 1}/{rounds} rounds", flush=True)
    finally:
        for task in watches:
            task.cancel()
        await asyncio.gather(*watches, return_exceptions=True)
        await api.close()
    return rows


async def _configuration(kubeconfig: Path) -> kubernetes_asyncio.client.Configuration:
    configuration = kubernetes_asyncio.client.Configuration()
    await kubernetes_asyncio.config.load_kube_config(
        config_file=str(kubeconfig), client_configuration=configuration
    )
    return configuration


def gated_pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"app.kubernetes.io/name": SERVICE}},
            "spec": {"containers": [{"name": "app", "image": "users-service:dev"}],
                     "readinessGates": [{"conditionType": GATE}]}}  # fmt: skip


def report(rows: dict[str, list[float]]) -> dict[str, Any]:
    print(f"\n{len(rows['create -> key on'])} rounds; the clock starts before each request is sent:")
    for name, values in rows.items():
        print(summary(name, values))
    baseline = statistics.median(rows["baseline: ConfigMap write -> watch"])
    share = [key - baseline for key in rows["create -> key on"]]
    back = [key - baseline for key in rows["delete -> key off"]]
    create_p99, delete_p99 = percentile(share, 0.99) * 1000, percentile(back, 0.99) * 1000
    print(f"operator's share (key written minus the baseline's median {baseline * 1000:.1f} ms): "
          f"create p99 {create_p99:.1f} ms, delete p99 {delete_p99:.1f} ms (target <= 50 ms)")  # fmt: skip
    figures: dict[str, Any] = {
        name: {
            "p50_ms": percentile(v, 0.5) * 1000,
            "p99_ms": percentile(v, 0.99) * 1000,
            "max_ms": max(v) * 1000,
        }
        for name, v in rows.items()
    }
    return {**figures, "operator_share_create_p99_ms": create_p99, "operator_share_delete_p99_ms": delete_p99,
            "target_operator_share_p99_ms": 50}  # fmt: skip


def plot(rows: dict[str, list[float]]) -> None:
    shown = ("baseline: ConfigMap write -> watch", "create -> key on", "create -> first 503",
             "create -> pods gated", "create -> Drained", "kubectl apply -> first 503")  # fmt: skip
    series = {name: [v * 1000 for v in rows[name]] for name in shown}
    distributions(
        "apply_latency",
        "Maintenance apply latency on a local control plane",
        series,
        "ms after the request was sent",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
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
            rows = asyncio.run(measure(args.rounds, cluster.kubeconfig, etcd, f"http://127.0.0.1:{port}"))
            write("apply_latency", {"rounds": args.rounds, **report(rows)})
            plot(rows)
            for process in processes:
                process.stop()
    finally:
        for process in processes:
            process.kill()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
