"""Microseconds that ``MaintenanceMiddleware`` adds per request with maintenance off, in-process.

Beside two Starlette middlewares measured the same way (``TrustedHostMiddleware``, ``CORSMiddleware``), and
the bare app as the baseline: each middleware wraps the same trivial ASGI app, and a request is a hand-made
scope driven through it (no network, no server). Rounds are interleaved (A, B, C, D, A, B, ...) because
this machine is shared and noisy; the figures are medians of per-round means, with the spread (p10-p90).
Also measured: the middleware with maintenance on (a 503 answer) and with every bypass option configured.

    uv run python bench/middleware_cost.py [--rounds 30] [--requests 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _out import bars, write
from kubemaint.asgi import MaintenanceMiddleware
from kubemaint.inflight import InFlight
from kubemaint.state import OFF, MaintenanceState
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


class View:
    def __init__(self, state: MaintenanceState) -> None:
        self.state = state
        self.in_flight = InFlight()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


SCOPE: dict[str, Any] = {
    "type": "http", "method": "GET", "path": "/users/7", "root_path": "", "query_string": b"",
    "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8081), "scheme": "http",
    "headers": [(b"host", b"users.test"), (b"accept", b"*/*"), (b"origin", b"https://app.example.com")],
}  # fmt: skip


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Any) -> None:
    return None


async def per_request(target: App, requests: int) -> float:
    """Mean seconds per request through ``target``."""
    started = time.perf_counter()
    for _ in range(requests):
        await target(dict(SCOPE), receive, send)
    return (time.perf_counter() - started) / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args()
    targets: dict[str, App] = {
        "bare app (baseline)": app,
        "MaintenanceMiddleware, off": MaintenanceMiddleware(app, View(OFF)),
        "MaintenanceMiddleware, off, bypasses set": MaintenanceMiddleware(
            app,
            View(OFF),
            bypass_secret="s" * 20,
            bypass_networks=["10.0.0.0/8"],
            trusted_proxies=["10.1.0.0/16"],
        ),
        "MaintenanceMiddleware, on (503)": MaintenanceMiddleware(app, View(MaintenanceState(enabled=True))),
        "TrustedHostMiddleware": TrustedHostMiddleware(app, allowed_hosts=["users.test"]),  # type: ignore[arg-type]
        "CORSMiddleware": CORSMiddleware(app, allow_origins=["https://app.example.com"]),  # type: ignore[arg-type]
    }
    samples: dict[str, list[float]] = {name: [] for name in targets}

    async def run() -> None:
        for target in targets.values():  # warm-up
            await per_request(target, 2000)
        for _ in range(args.rounds):
            for name, target in targets.items():
                samples[name].append(await per_request(target, args.requests))

    asyncio.run(run())
    base = statistics.median(samples["bare app (baseline)"])
    print(
        f"{args.rounds} interleaved rounds of {args.requests} in-process requests; added = median - bare app"
    )
    print(f"{'':44} {'median µs':>10} {'added µs':>9} {'p10-p90 µs':>14}")
    added: dict[str, float] = {}
    for name, values in samples.items():
        micro = sorted(v * 1e6 for v in values)
        p10, p90 = micro[len(micro) // 10], micro[(len(micro) * 9) // 10]
        median = statistics.median(micro)
        added[name] = median - base * 1e6
        print(f"{name:44} {median:10.2f} {added[name]:9.2f} {p10:7.2f}-{p90:6.2f}")
    off, trusted = added["MaintenanceMiddleware, off"], added["TrustedHostMiddleware"]
    print(f"\nMaintenanceMiddleware off / TrustedHostMiddleware: {off / trusted:.2f} (target <= 1.00)")
    write("middleware_cost", {"rounds": args.rounds, "requests": args.requests, "added_us": added,
                              "off_over_trusted_host": off / trusted, "target": 1.0})  # fmt: skip
    bars("middleware_cost", "Added per in-process request (median over interleaved rounds)", "µs", added)


if __name__ == "__main__":
    main()
