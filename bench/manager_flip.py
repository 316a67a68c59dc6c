"""Library flip latency: from sending an etcd put to ``Manager.state`` showing the new value.

    uv run python bench/manager_flip.py [--endpoints http://127.0.0.1:2379] [--flips 200]

Without ``--endpoints`` a throw-away etcd is started with the dev stack harness. The puts go through the
library's own client (not etcdctl), so the figure is the watch path alone: the service's put -> 503
latency adds the HTTP round trip on top.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from _out import distributions, write
from kubemaint.client import EtcdConfig
from kubemaint.manager import Manager, ManagerConfig
from kubemaint.state import MaintenanceState
from kubemaint.store import StateStore


async def run(endpoints: str, flips: int) -> None:
    config = EtcdConfig.from_endpoints(endpoints)
    key = f"/maintenance/bench-{secrets.token_hex(4)}"
    manager = Manager(ManagerConfig(key=key, etcd=config, instance="bench", acknowledge=False))
    await manager.start()
    latencies: list[float] = []
    try:
        async with StateStore.open(config) as writer:
            for flip in range(flips):
                want = flip % 2 == 0
                started = time.perf_counter()
                await writer.put_state(key, MaintenanceState(enabled=want))
                async with asyncio.timeout(10):
                    # poll the property the middleware reads, as often as the loop allows
                    while manager.state.enabled is not want:  # noqa: ASYNC110
                        await asyncio.sleep(0)
                latencies.append(time.perf_counter() - started)
            await writer.delete_state(key)
    finally:
        await manager.stop()
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"{flips} flips of {key}: put sent -> Manager.state flipped")
    p50 = statistics.median(ordered)
    print(f"p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, max {ordered[-1] * 1000:.2f} ms")
    write("manager_flip", {"flips": flips, "p50_ms": p50 * 1000, "p99_ms": p99 * 1000,
                           "max_ms": ordered[-1] * 1000})  # fmt: skip

    distributions(
        "manager_flip", "etcd put -> Manager.state flipped", {"put -> state": [v * 1000 for v in ordered]}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", default=None)
    parser.add_argument("--flips", type=int, default=200)
    args = parser.parse_args()
    if args.endpoints:
        asyncio.run(run(args.endpoints, args.flips))
        return
    from kubemaint_devstack.etcd import EtcdServer

    with (
        tempfile.TemporaryDirectory(prefix="kubemaint-bench-") as base,
        EtcdServer(Path(base) / "etcd") as server,
    ):
        asyncio.run(run(server.endpoint, args.flips))


if __name__ == "__main__":
    main()
