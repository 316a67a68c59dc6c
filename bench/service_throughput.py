"""Throughput of ``GET /users/{id}`` through the real users service against a bare asyncpg loop.

Starts PostgreSQL and etcd (kubemaint_devstack), the ``users-service`` console script (one uvicorn worker,
its default pool of 10) with maintenance off, and creates one user. Then, in interleaved rounds (this
machine is shared and noisy):

- **service**: bombardier (``scripts/build-tools.sh bombardier``, a Go HTTP load generator, so the client is
  not the bottleneck) with ``--connections`` keep-alive connections for ``--seconds`` against
  ``GET /users/{id}``; requests/s and latency percentiles;
- **baseline**: one Python process, an asyncpg pool of the same size, ``--connections`` tasks running the
  service's own query (``SELECT id, name, email, created_at, updated_at FROM users WHERE id = $1``) for
  the same time; queries/s.

Prints the medians and spreads and their ratio (target: at least 0.4), the service's resident set idle and
at its peak under load (the footprint behind the chart's requests and limits), and writes
``bench/out/service_throughput.json``. ``--profile`` also runs pyinstrument in the service for one round
and saves its report (text) beside the JSON.

    uv run python bench/service_throughput.py [--rounds 3] [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from _kit import PeakRss, rss_mib, start_service
from _out import OUT, bars, spread, write
from kubemaint_devstack.etcd import EtcdServer
from kubemaint_devstack.postgres import PostgresServer
from kubemaint_devstack.tools import find_tool

BASELINE = r"""
import asyncio, sys, time
import asyncpg
dsn, tasks, seconds, user = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
QUERY = "SELECT id, name, email, created_at, updated_at FROM users WHERE id = $1"
async def main():
    pool = await asyncpg.create_pool(dsn, min_size=10, max_size=10)
    done = 0
    async def worker(until):
        nonlocal done
        while time.perf_counter() < until:
            async with pool.acquire() as conn:
                await conn.fetchrow(QUERY, user)
            done += 1
    await asyncio.gather(*(worker(time.perf_counter() + 1) for _ in range(tasks)))  # warm-up
    done = 0
    started = time.perf_counter()
    await asyncio.gather(*(worker(started + seconds) for _ in range(tasks)))
    print(done / (time.perf_counter() - started))
    await pool.close()
asyncio.run(main())
"""


def service_round(bombardier: str, url: str, connections: int, seconds: float) -> dict[str, float]:
    out = subprocess.run(
        [bombardier, "--connections", str(connections), "--duration", f"{seconds}s", "--latencies",
         "--format", "json", "--print", "result", url],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
        env={**os.environ, "GOMAXPROCS": "1"},  # one core for the client, the rest for the service and PG
    ).stdout  # fmt: skip
    result = json.loads(out)["result"]
    codes = {k: v for k, v in result.items() if k.startswith("req") and k.endswith("xx")}
    if result.get("others") or any(v for k, v in codes.items() if k != "req2xx"):
        sys.exit(f"the service answered something other than 2xx: {result}")
    latency = result["latency"]["percentiles"]
    return {"rps": result["rps"]["mean"], "p50_ms": latency["50"] / 1000, "p99_ms": latency["99"] / 1000}


def baseline_round(dsn: str, connections: int, seconds: float, user: int) -> float:
    out = subprocess.run([sys.executable, "-c", BASELINE, dsn, str(connections), str(seconds), str(user)],
                         capture_output=True, text=True, check=True, timeout=seconds + 60)  # fmt: skip
    return float(out.stdout.strip())


def start(
    base: Path, postgres: PostgresServer, etcd: EtcdServer, profile: bool
) -> tuple[subprocess.Popen[bytes], str]:
    profiler = ("-m", "pyinstrument", "--renderer", "text", "--show-all",
                "--outfile", str(OUT / "service_throughput.profile.txt"))  # fmt: skip
    prefix = (sys.executable, *profiler) if profile else ()
    return start_service(base / "users-service.log", postgres, etcd, prefix=prefix,
                         MAINTENANCE_KEY="/maintenance/users-service-bench", LOG_FORMAT="json")  # fmt: skip


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(2)  # SIGINT: uvicorn shuts down, pyinstrument writes its report
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--profile", action="store_true", help="pyinstrument the service for one round")
    args = parser.parse_args()
    bombardier = str(find_tool("bombardier", prefer_cache=True))

    base = Path(tempfile.mkdtemp(prefix="kubemaint-bench-"))
    base.chmod(0o711)  # the unprivileged PostgreSQL user must traverse it when run as root
    try:
        with PostgresServer(base / "postgres") as postgres, EtcdServer(base / "etcd", name="bench") as etcd:
            service, url = start(base, postgres, etcd, profile=False)
            try:
                created = httpx.post(f"{url}/users", json={"name": "Bench", "email": "bench@example.com"})
                user = int(created.json()["id"])
                target = f"{url}/users/{user}"
                dsn = postgres.dsn
                service_round(bombardier, target, args.connections, 2)  # warm-up
                idle_rss = rss_mib(service.pid)
                services, baselines = [], []
                with PeakRss(service.pid) as peak:
                    for number in range(1, args.rounds + 1):
                        services.append(service_round(bombardier, target, args.connections, args.seconds))
                        baselines.append(baseline_round(dsn, args.connections, args.seconds, user))
                        print(f"round {number}: service {services[-1]['rps']:8.0f} req/s  "
                              f"(p50 {services[-1]['p50_ms']:.1f} ms, p99 {services[-1]['p99_ms']:.1f} ms)  "
                              f"baseline {baselines[-1]:8.0f} queries/s")  # fmt: skip
            finally:
                stop(service)
            if args.profile:
                service, url = start(base, postgres, etcd, profile=True)
                try:
                    service_round(bombardier, f"{url}/users/{user}", args.connections, args.seconds)
                finally:
                    stop(service)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    ratios = [s["rps"] / b for s, b in zip(services, baselines, strict=True)]
    figures = {
        "connections": args.connections, "seconds": args.seconds, "rounds": args.rounds,
        "service_rps": spread([s["rps"] for s in services]),
        "service_p50_ms": spread([s["p50_ms"] for s in services]),
        "service_p99_ms": spread([s["p99_ms"] for s in services]),
        "baseline_qps": spread(baselines),
        "ratio": spread(ratios), "target_ratio": 0.4,
        "service_rss_mib": {"idle": idle_rss, "peak_under_load": peak.mib},
    }  # fmt: skip
    ratio = figures["ratio"]
    print(f"service {figures['service_rps']['median']:.0f} req/s, bare asyncpg "
          f"{figures['baseline_qps']['median']:.0f} queries/s: ratio {ratio['median']:.2f} "
          f"(p10 {ratio['p10']:.2f}, p90 {ratio['p90']:.2f}; target >= 0.4)")  # fmt: skip
    print(f"service RSS: {idle_rss:.0f} MiB idle, {peak.mib:.0f} MiB at most under load "
          f"(the chart requests 128 Mi and limits 256 Mi)")  # fmt: skip
    write("service_throughput", figures)
    bars("service_throughput", f"GET /users/{{id}}, {args.connections} connections (medians)", "per second", {
        "users-service (requests)": figures["service_rps"]["median"],
        "bare asyncpg loop (queries)": figures["baseline_qps"]["median"],
    })  # fmt: skip


if __name__ == "__main__":
    main()
