"""Pool shrink and restore under concurrent load: times, server connections, failed queries.

    uv run python bench/pool_resize.py [--dsn postgresql://...] [--rounds 5] [--workers 32]

Without ``--dsn`` a throw-away PostgreSQL is started with the dev stack harness. Each round: load runs
through a :class:`kubemaint.pgpool.PoolHandler` (``max_size`` 10), the handler enters maintenance
(``maintenance_max`` 1) and leaves it again. Printed per round: how long ``on_start``/``on_end`` took, how
long until ``pg_stat_activity`` showed the target, and the server connection counts before, during and
after; then the totals of queries served and failed.
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
    served = failed = 0
    stop = asyncio.Event()

    async def work(worker: int) -> None:
        nonlocal served, failed
        while not stop.is_set():
            try:
                await handler.fetchval("select $1::int from pg_sleep(0.002)", worker)
                served += 1
            except Exception as exc:
                failed += 1
                print(f"query failed: {type(exc).__name__}: {exc}")
                await asyncio.sleep(0.01)

    tasks = [asyncio.create_task(work(i)) for i in range(workers)]
    shrink_calls, shrink_seen, restore_calls, restore_seen = [], [], [], []
    print(f"{workers} workers, pool {max_size} -> {maintenance_max} -> {max_size}, {rounds} rounds")
    print("round  before  shrink-call  shrunk-seen  during  restore-call  restored-seen  after")
    try:
        for round_number in range(1, rounds + 1):
            await wait_count(observer, application, lambda n: n >= max_size // 2)
            before = await count(observer, application)
            started = time.perf_counter()
            await handler.on_start(MaintenanceState(enabled=True))
            shrink_calls.append(time.perf_counter() - started)
            seen = await wait_count(observer, application, lambda n: n <= maintenance_max)
            shrink_seen.append(shrink_calls[-1] + seen)
            await asyncio.sleep(0.3)
            during = await count(observer, application)
            started = time.perf_counter()
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
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await handler.close()
        await observer.close()

    def summary(name: str, values: list[float]) -> str:
        return f"{name}: median {statistics.median(values) * 1000:.1f} ms, max {max(values) * 1000:.1f} ms"

    print(summary("shrink (on_start returned)", shrink_calls))
    print(summary("shrink (pg_stat_activity <= maintenance max)", shrink_seen))
    print(summary("restore (on_end returned)", restore_calls))
    print(summary(f"restore (pg_stat_activity >= {max_size // 2})", restore_seen))
    print(f"queries: {served} served, {failed} failed")


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
