"""Pool shrink and restore under concurrent load: times, server connections, failed queries.

    uv run python bench/pool_resize.py [--dsn postgresql://...] [--rounds 5] [--workers 32]

Without ``--dsn`` a throw-away PostgreSQL is started with the dev stack harness. Each round: load runs
through a :class:`kubemaint.pgpool.PoolHandler` (``max_size`` 10), the handler enters maintenance
(``maintenance_max`` 1) and leaves it again. Printed per round: how long ``on_start``/``on_end`` took, how
long until ``pg_stat_activity`` showed the target, and the server connection counts before, during and
after; then the totals of queries served and failed. A sampler reads ``pg_stat_activity`` every 20 ms
all along: ``bench/out/pool_resize.json`` holds the figures and ``pool_resize.png`` the timeline of server
connections and queries served per 100 ms, with each shrink and restore marked.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg
from _out import pyplot, save_plot, spread, write
from kubemaint.pgpool import PoolHandler
from kubemaint.state import MaintenanceState


async def count(connection: asyncpg.Connection, application: str) -> int:
    query = "select count(*) from pg_stat_activity where application_name = $1"
    return int(await connection.fetchval(query, application))


async def wait_count(
    connection: asyncpg.Connection, application: str, ok: object, limit: float = 30.0
) -> float:
    assert callable(ok)
    started = time.perf_counter()
    while not ok(await count(connection, application)):
        if time.perf_counter() - started > limit:
            raise TimeoutError("server connections did not reach the target")
        await asyncio.sleep(0.005)
    return time.perf_counter() - started


Sample = tuple[float, int, int, int]
"""Seconds since the start, server connections, queries served and failed so far."""


async def sample(
    dsn: str, application: str, counts: dict[str, int], stop: asyncio.Event, timeline: list[Sample]
) -> None:
    connection = await asyncpg.connect(dsn)
    started = time.perf_counter()
    try:
        while not stop.is_set():
            connections = await count(connection, application)
            timeline.append((time.perf_counter() - started, connections, counts["served"], counts["failed"]))
            await asyncio.sleep(0.02)
    finally:
        await connection.close()


def plot(timeline: list[Sample], marks: list[tuple[float, str]], max_size: int) -> None:
    figure, connections_axis = pyplot().subplots(figsize=(10, 4.5))
    times = [t for t, *_ in timeline]
    connections_axis.step(times, [c for _, c, _, _ in timeline], where="post", color="tab:blue")
    connections_axis.set_ylabel("server connections (pg_stat_activity)", color="tab:blue")
    connections_axis.set_ylim(0, max([max_size, *(c for _, c, _, _ in timeline)]) + 2)
    connections_axis.set_xlabel("seconds")
    rate_axis = connections_axis.twinx()
    buckets: dict[int, int] = {}
    previous = 0
    for t, _, served, _ in timeline:
        buckets[int(t * 10)] = buckets.get(int(t * 10), 0) + served - previous
        previous = served
    rate_axis.plot([b / 10 for b in sorted(buckets)], [buckets[b] * 10 for b in sorted(buckets)],
                   color="tab:green", alpha=0.6)  # fmt: skip
    rate_axis.set_ylabel("queries served per second (100 ms buckets)", color="tab:green")
    for at, what in marks:
        connections_axis.axvline(
            at, color="tab:red" if what == "on" else "tab:gray", linestyle="--", alpha=0.6
        )
    failed = timeline[-1][3] if timeline else 0
    connections_axis.set_title(
        f"Pool through maintenance flips (red: shrink, grey: restore); {failed} failed queries"
    )
    save_plot(figure, "pool_resize")


async def run(dsn: str, rounds: int, workers: int, max_size: int, maintenance_max: int) -> None:
    application = f"kubemaint-bench-{secrets.token_hex(3)}"
    handler = PoolHandler(
        dsn=dsn,
        min_size=2,
        max_size=max_size,
        maintenance_max=maintenance_max,
        server_settings={"application_name": application},
    )
    await handler.open()
    observer = await asyncpg.connect(dsn)
    counts = {"served": 0, "failed": 0}
    stop = asyncio.Event()
    timeline: list[Sample] = []
    marks: list[tuple[float, str]] = []
    began = time.perf_counter()

    async def work(worker: int) -> None:
        while not stop.is_set():
            try:
                await handler.fetchval("select $1::int from pg_sleep(0.002)", worker)
                counts["served"] += 1
            except Exception as exc:
                counts["failed"] += 1
                print(f"query failed: {type(exc).__name__}: {exc}")
                await asyncio.sleep(0.01)

    tasks = [asyncio.create_task(work(i)) for i in range(workers)]
    sampler = asyncio.create_task(sample(dsn, application, counts, stop, timeline))
    shrink_calls, shrink_seen, restore_calls, restore_seen = [], [], [], []
    print(f"{workers} workers, pool {max_size} -> {maintenance_max} -> {max_size}, {rounds} rounds")
    print("round  before  shrink-call  shrunk-seen  during  restore-call  restored-seen  after")
    try:
        for round_number in range(1, rounds + 1):
            await wait_count(observer, application, lambda n: n >= max_size // 2)
            before = await count(observer, application)
            started = time.perf_counter()
            marks.append((started - began, "on"))
            await handler.on_start(MaintenanceState(enabled=True))
            shrink_calls.append(time.perf_counter() - started)
            seen = await wait_count(observer, application, lambda n: n <= maintenance_max)
            shrink_seen.append(shrink_calls[-1] + seen)
            await asyncio.sleep(0.3)
            during = await count(observer, application)
            started = time.perf_counter()
            marks.append((started - began, "off"))
            await handler.on_end(MaintenanceState())
            restore_calls.append(time.perf_counter() - started)
            seen = await wait_count(observer, application, lambda n: n >= max_size // 2)
            restore_seen.append(restore_calls[-1] + seen)
            after = await count(observer, application)
            times = [
                t * 1000 for t in (shrink_calls[-1], shrink_seen[-1], restore_calls[-1], restore_seen[-1])
            ]
            print(
                f"{round_number:5}  {before:6}  {times[0]:9.1f}ms  {times[1]:9.1f}ms"
                f"  {during:6}  {times[2]:10.1f}ms  {times[3]:11.1f}ms  {after:5}"
            )
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.gather(*tasks, sampler)
        await handler.close()
        await observer.close()

    def summary(name: str, values: list[float]) -> str:
        return f"{name}: median {statistics.median(values) * 1000:.1f} ms, max {max(values) * 1000:.1f} ms"

    print(summary("shrink (on_start returned)", shrink_calls))
    print(summary("shrink (pg_stat_activity <= maintenance max)", shrink_seen))
    print(summary("restore (on_end returned)", restore_calls))
    print(summary(f"restore (pg_stat_activity >= {max_size // 2})", restore_seen))
    print(f"queries: {counts['served']} served, {counts['failed']} failed")
    write("pool_resize", {
        "workers": workers, "max_size": max_size, "maintenance_max": maintenance_max, "rounds": rounds,
        "shrink_seen_ms": spread([v * 1000 for v in shrink_seen]) | {"max": max(shrink_seen) * 1000},
        "restore_seen_ms": spread([v * 1000 for v in restore_seen]) | {"max": max(restore_seen) * 1000},
        "served": counts["served"], "failed": counts["failed"],
        "timeline": [list(point) for point in timeline], "marks": marks,
    })  # fmt: skip
    plot(timeline, marks, max_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--max-size", type=int, default=10)
    parser.add_argument("--maintenance-max", type=int, default=1)
    args = parser.parse_args()
    if args.dsn:
        asyncio.run(run(args.dsn, args.rounds, args.workers, args.max_size, args.maintenance_max))
        return
    from kubemaint_devstack.postgres import PostgresServer

    with tempfile.TemporaryDirectory(prefix="kubemaint-bench-") as base:
        Path(base).chmod(0o711)
        with PostgresServer(Path(base) / "pg") as server:
            asyncio.run(run(server.dsn, args.rounds, args.workers, args.max_size, args.maintenance_max))


if __name__ == "__main__":
    main()
