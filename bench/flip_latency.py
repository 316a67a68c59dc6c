"""Flip latency: from an etcd put until every one of 3 users-service replicas answers the new state, beside
the bare etcd watch-delivery latency measured in the same run.

Starts PostgreSQL and etcd (kubemaint_devstack) and three ``users-service`` processes on the same key.
Then ``--flips`` rounds, interleaved:

- **baseline**: put a value on a second key, which this process watches with etcd's own watch (no library,
  no HTTP): time until the event arrives;
- **service**: put ``true`` (what ``etcdctl put <key> true`` writes), and poll every replica over a kept-alive
  HTTP connection until each answers 503: time until the last one does; then ``false`` until none does.
  Leaving includes restoring the pool before admitting again (DESIGN: restore, then admit).

The clock starts just before the put is sent, so both include the put's round trip; the service figure also
includes one HTTP poll and up to ``POLL_PAUSE`` (2 ms) between polls. Prints p50 / p99 / max of
each and the difference (target: p99 within 10 ms of the baseline), and writes
``bench/out/flip_latency.json`` and ``bench/out/flip_latency.png`` (and ``.svg``: the distributions).

    uv run python bench/flip_latency.py [--flips 200] [--replicas 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from _kit import start_service
from _out import OUT, percentile, write
from kubemaint.client import EtcdConfig, connect, kv_of, watch_of
from kubemaint_devstack.etcd import EtcdServer
from kubemaint_devstack.postgres import PostgresServer

KEY = "/maintenance/users-service-bench"
BASELINE_KEY = "/bench/watch-delivery"
POLL_TIMEOUT = 10.0
POLL_PAUSE = 0.002
"""Between two polls of one replica: three back-to-back pollers would keep both cores busy answering them,
and the replicas' event loops would see the watch event late (measured: p50 20 ms instead of 3 ms)."""


def ms(values: list[float]) -> dict[str, float]:
    figures = [v * 1000 for v in values]
    return {
        "p50": percentile(figures, 0.5),
        "p99": percentile(figures, 0.99),
        "max": max(figures),
        "n": len(figures),
    }


async def until_all(clients: list[httpx.AsyncClient], maintenance: bool, started: float) -> float:
    async def one(client: httpx.AsyncClient) -> float:
        while True:
            # /users/0: the middleware's 503 in maintenance, else the route's 422 (no database round trip,
            # so the poll itself stays cheap beside three replicas on two cores).
            if ((await client.get("/users/0")).status_code == 503) == maintenance:
                return time.perf_counter() - started
            if time.perf_counter() - started > POLL_TIMEOUT:
                raise RuntimeError(f"a replica did not turn maintenance={maintenance} in {POLL_TIMEOUT} s")
            await asyncio.sleep(POLL_PAUSE)

    return max(await asyncio.gather(*(one(client) for client in clients)))


async def run(urls: list[str], endpoint: str, flips: int) -> dict[str, list[float]]:
    etcd = await connect(EtcdConfig.from_endpoints(endpoint))
    kv = kv_of(etcd)
    delivered: asyncio.Queue[float] = asyncio.Queue()

    async def watch() -> None:
        stream = watch_of(etcd).watch(BASELINE_KEY)
        async with contextlib.aclosing(stream):  # type: ignore[type-var]
            async for response in stream:
                for _ in response.events:
                    delivered.put_nowait(time.perf_counter())

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.5)  # the watch is created
    results: dict[str, list[float]] = {"watch": [], "on": [], "off": []}
    clients = [httpx.AsyncClient(base_url=url, timeout=5.0) for url in urls]
    try:
        for number in range(flips + 5):  # the first 5: warm-up
            started = time.perf_counter()
            await kv.put(BASELINE_KEY, str(number))
            watch_seconds = await asyncio.wait_for(delivered.get(), POLL_TIMEOUT) - started
            started = time.perf_counter()
            await kv.put(KEY, "true")
            on = await until_all(clients, True, started)
            started = time.perf_counter()
            await kv.put(KEY, "false")
            off = await until_all(clients, False, started)
            if number >= 5:
                results["watch"].append(watch_seconds)
                results["on"].append(on)
                results["off"].append(off)
    finally:
        watcher.cancel()
        for client in clients:
            await client.aclose()
        await etcd.close()
    return results


def plot(results: dict[str, list[float]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5))
    labels = {"watch": "bare etcd watch delivery", "on": "put true -> every replica 503",
              "off": "put false -> every replica serving (pool restored)"}  # fmt: skip
    for name, label in labels.items():
        values = sorted(v * 1000 for v in results[name])
        axes.plot(values, [i / len(values) for i in range(1, len(values) + 1)], label=label)
    axes.set_xscale("log")
    axes.set_xlabel("milliseconds from the put")
    axes.set_ylabel("fraction of flips")
    axes.set_title("Flip latency (cumulative)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    OUT.mkdir(exist_ok=True)
    path = OUT / "flip_latency.png"
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    figure.savefig(path.with_suffix(".svg"))  # text: what the README shows (docs/performance/)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--flips", type=int, default=200, help="maintenance on/off rounds (default 200)")
    parser.add_argument("--replicas", type=int, default=3)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="kubemaint-bench-"))
    base.chmod(0o711)  # the unprivileged PostgreSQL user must traverse it when run as root
    services: list[subprocess.Popen[bytes]] = []
    try:
        with PostgresServer(base / "postgres") as postgres, EtcdServer(base / "etcd", name="bench") as etcd:
            urls = []
            for number in range(args.replicas):
                process, url = start_service(base / f"replica-{number}.log", postgres, etcd,
                                             MAINTENANCE_KEY=KEY, DRAIN_TIMEOUT="5")  # fmt: skip
                services.append(process)
                urls.append(url)
            results = asyncio.run(run(urls, etcd.endpoint, args.flips))
    finally:
        for process in services:
            process.terminate()
        for process in services:
            process.wait(30)
        shutil.rmtree(base, ignore_errors=True)
    figures = {name: ms(values) for name, values in results.items()}
    figures["on_minus_watch_p99_ms"] = figures["on"]["p99"] - figures["watch"]["p99"]
    figures["replicas"] = args.replicas
    print(f"flip latency over {args.flips} flips, {args.replicas} replicas (ms from the put):")
    for name, label in (("watch", "bare watch delivery"), ("on", "true -> every replica 503"),
                        ("off", "false -> every replica serving")):  # fmt: skip
        f = figures[name]
        print(f"  {label:<28} p50 {f['p50']:7.2f}  p99 {f['p99']:7.2f}  max {f['max']:7.2f}")
    gap = figures["on_minus_watch_p99_ms"]
    print(f"  p99 of the flip minus p99 of the bare watch: {gap:.2f} ms (target <= 10)")
    write("flip_latency", figures)
    print(f"plot: {plot(results).relative_to(OUT.parent.parent)}")


if __name__ == "__main__":
    main()
