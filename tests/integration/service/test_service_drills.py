"""Fault drills: the users service under steady load while PostgreSQL restarts and etcd is killed or frozen.

Every answer of the load is counted: 2xx, the maintenance 503 (``Retry-After`` and ``X-Maintenance: on``),
the database's 503 problem+json, and anything else (another status, a reset, a request that hung past its
10 s bound). "Anything else" must stay zero. Each drill runs its own PostgreSQL or etcd, so it may stop,
kill and freeze them, and it sends the bypass secret on some requests all the while: the secret must
never reach the log.

The long freeze (30 s) is marked ``chaos`` (``make chaos``); the rest runs in ``make test``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from kubemaint_devstack.etcd import EtcdServer
from kubemaint_devstack.postgres import PostgresServer

from tests.support.polling import eventually

BYPASS_SECRET = f"drill-bypass-{secrets.token_hex(12)}"
REQUEST_TIMEOUT = 10.0


def outcome_of(response: httpx.Response) -> str:
    if 200 <= response.status_code < 300:
        return "2xx"
    if response.status_code == 503:
        kind = response.headers.get("content-type", "")
        if response.headers.get("x-maintenance") == "on" and response.headers.get("retry-after"):
            return "maintenance 503"
        if kind.startswith("application/problem+json") and response.json().get("status") == 503:
            return "database 503"
    return f"other: {response.status_code} {response.text[:120]}"


class Load:
    """``workers`` threads sending ``GET path`` back to back until the block ends; ``counts`` by outcome,
    ``other`` the first few answers that were none of the expected ones."""

    def __init__(self, url: str, path: str, workers: int = 4) -> None:
        self.url, self.path, self.workers = url, path, workers
        self.counts: Counter[str] = Counter()
        self.other: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(workers)]

    def _run(self, worker: int) -> None:
        # Every other worker carries the bypass secret's header with a wrong value: it is read, and
        # refused, on every request, and must still not be logged.
        headers = {"x-maintenance-bypass": BYPASS_SECRET[::-1]} if worker % 2 else {}
        with httpx.Client(base_url=self.url, timeout=REQUEST_TIMEOUT, headers=headers) as client:
            while not self._stop.is_set():
                try:
                    outcome = outcome_of(client.get(self.path))
                except httpx.TransportError as exc:
                    outcome = f"other: {type(exc).__name__} {exc}"
                with self._lock:
                    self.counts["other" if outcome.startswith("other") else outcome] += 1
                    if outcome.startswith("other") and len(self.other) < 5:
                        self.other.append(outcome)

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.counts)

    @contextmanager
    def running(self) -> Iterator[Load]:
        for thread in self._threads:
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join(REQUEST_TIMEOUT + 5)

    def check(self, *expected: str) -> None:
        """Nothing but the expected outcomes, and at least one of each."""
        counts = self.snapshot()
        print(f"load outcomes: {dict(counts)}")
        assert counts["other"] == 0, self.other
        for outcome in expected:
            assert counts[outcome] > 0, f"no {outcome} among {dict(counts)}"


def grew(load: Load, outcome: str, since: Counter[str]) -> Callable[[], bool]:
    return lambda: load.snapshot()[outcome] > since[outcome]


@pytest.fixture
def own_postgres(devstack_dir: Path) -> Iterator[PostgresServer]:
    """A PostgreSQL of this drill alone (the session's is shared by every test)."""
    server = PostgresServer(devstack_dir / f"pg-{secrets.token_hex(4)}")
    server.start()
    yield server
    server.stop()
    shutil.rmtree(server.data_dir, ignore_errors=True)


def _status(url: str) -> int:
    return httpx.get(url, timeout=REQUEST_TIMEOUT).status_code


def _seed(url: str) -> int:
    response = httpx.post(f"{url}/users", json={"name": "Ada", "email": "ada@example.com"}, timeout=10)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _no_secret_in(log: str) -> None:
    assert BYPASS_SECRET not in log
    assert BYPASS_SECRET[::-1] not in log


def test_postgres_restart_under_load_gives_503_problems_and_the_pool_heals(
    start_process, own_postgres: PostgresServer
) -> None:
    service = start_process(
        DB_HOST=own_postgres.host, DB_PORT=str(own_postgres.port), DB_USER=own_postgres.user,
        DB_PASSWORD=own_postgres.password, DB_NAME=own_postgres.database,
        MAINTENANCE_BYPASS_SECRET=BYPASS_SECRET, LOG_LEVEL="DEBUG",
    )  # fmt: skip
    service.wait_ready("/readyz", timeout=60)
    user = _seed(service.url)
    before = httpx.get(f"{service.url}/users", timeout=10).json()
    load = Load(service.url, f"/users/{user}")
    with load.running():
        eventually(lambda: load.snapshot()["2xx"] > 20, 30, "load served")
        own_postgres.stop()
        eventually(lambda: _status(f"{service.url}/readyz") == 503, 30, "/readyz failing without PostgreSQL")
        eventually(lambda: load.snapshot()["database 503"] > 0, 30, "a 503 problem while it is down")
        own_postgres.start()
        eventually(lambda: _status(f"{service.url}/readyz") == 200, 60, "/readyz again, no restart")
        served = load.snapshot()
        eventually(grew(load, "2xx", served), 30, "requests served again")
    load.check("2xx", "database 503")
    assert service.process.poll() is None, "the service healed without a restart"
    assert httpx.get(f"{service.url}/users", timeout=10).json() == before, "every row intact"
    _no_secret_in(service.log())


def _frozen(etcd: EtcdServer) -> Callable[[], None]:
    pid = etcd.process.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    return lambda: os.kill(pid, signal.SIGCONT)


def _connected(url: str) -> bool:
    return bool(httpx.get(f"{url}/stats", timeout=REQUEST_TIMEOUT).json()["maintenance"]["connected"])


def _freeze_drill(start_process, etcd_factory, unique_key: str, seconds: float) -> None:
    etcd = etcd_factory()
    service = start_process(ETCD_ENDPOINTS=etcd.endpoint, MAINTENANCE_BYPASS_SECRET=BYPASS_SECRET)
    service.wait_ready("/readyz", timeout=60)
    user = _seed(service.url)
    load = Load(service.url, f"/users/{user}")
    with load.running():
        eventually(lambda: load.snapshot()["2xx"] > 20, 30, "load served")
        # During a flip: the put lands, and etcd freezes before or after the service has seen it.
        etcd.put(unique_key, '{"enabled": true, "reason": "drill", "retryAfterSeconds": 7}')
        resume = _frozen(etcd)
        try:
            frozen_at = time.monotonic()
            eventually(lambda: not _connected(service.url), 20, "the frozen link noticed")
            noticed = time.monotonic() - frozen_at
            time.sleep(max(0.0, seconds - (time.monotonic() - frozen_at)))
        finally:
            resume()
        eventually(lambda: _connected(service.url), 30, "connected again after SIGCONT")
        eventually(lambda: _status(f"{service.url}/users/{user}") == 503, 20, "the flip applied")
        etcd.delete(unique_key)
        eventually(lambda: _status(f"{service.url}/users/{user}") == 200, 20, "the way back applied")
        time.sleep(1)
    print(f"etcd frozen for {seconds:.0f} s: noticed after {noticed:.1f} s")
    load.check("2xx", "maintenance 503")
    _no_secret_in(service.log())


def test_etcd_frozen_during_a_flip_is_noticed_and_the_flip_applies_after(
    start_process, etcd_factory, unique_key: str
) -> None:
    _freeze_drill(start_process, etcd_factory, unique_key, seconds=8)


@pytest.mark.chaos
def test_etcd_frozen_for_30_seconds_under_load(start_process, etcd_factory, unique_key: str) -> None:
    _freeze_drill(start_process, etcd_factory, unique_key, seconds=30)


def test_etcd_killed_during_a_flip_catches_up_on_the_change_made_while_down(
    start_process, etcd_factory, unique_key: str
) -> None:
    etcd = etcd_factory()
    service = start_process(ETCD_ENDPOINTS=etcd.endpoint, MAINTENANCE_BYPASS_SECRET=BYPASS_SECRET)
    service.wait_ready("/readyz", timeout=60)
    user = _seed(service.url)
    load = Load(service.url, f"/users/{user}")
    with load.running():
        eventually(lambda: load.snapshot()["2xx"] > 20, 30, "load served")
        etcd.put(unique_key, "true")
        eventually(lambda: load.snapshot()["maintenance 503"] > 0, 20, "the flip applied")
        etcd.kill()
        eventually(lambda: not _connected(service.url), 20, "the loss noticed")
        assert _status(f"{service.url}/users/{user}") == 503, "last known: still in maintenance"
        etcd.start()
        etcd.delete(unique_key)  # the change a reconnecting watch must not miss
        eventually(lambda: _status(f"{service.url}/users/{user}") == 200, 30, "caught up after restart")
        time.sleep(1)
    load.check("2xx", "maintenance 503")
    stats = httpx.get(f"{service.url}/stats", timeout=10).json()["maintenance"]
    assert stats["connected"]
    assert not stats["maintenance"]
    _no_secret_in(service.log())


HOSTILE_TEXT = [
    "'; DROP TABLE users; --",
    "Robert'); DELETE FROM users WHERE ('1'='1",
    "100% _wild_ \\\\ \\x00-free $1 $$ :name ?",
    '"quoted" `back` /* comment */ -- dash',
    "名前 ✓ émile",
]


def test_hostile_bodies_get_clear_errors_and_the_rows_stay_intact(start_process) -> None:
    service = start_process()
    service.wait_ready("/readyz", timeout=60)
    url = service.url

    def rows() -> list[dict[str, object]]:
        listed: list[dict[str, object]] = httpx.get(f"{url}/users?limit=1000", timeout=10).json()
        return listed

    before = rows()
    refused = {
        "deeply nested": (b"[" * 100_000 + b"]" * 100_000, "application/json"),
        "huge": (b'{"name": "' + b"x" * 2_000_000 + b'", "email": "a@example.com"}', "application/json"),
        "wrong encoding": (
            '{"name": "Émile", "email": "e@example.com"}'.encode("latin-1"),
            "application/json",
        ),
        "wrong content type": (b'{"name": "Ada", "email": "ada@example.com"}', "text/plain"),
        "not json": (b"name=Ada&email=ada@example.com", "application/x-www-form-urlencoded"),
    }
    for what, (body, kind) in refused.items():
        response = httpx.post(f"{url}/users", content=body, headers={"content-type": kind}, timeout=30)
        assert response.status_code in (413, 415, 422), (what, response.status_code, response.text[:200])
        assert response.headers["content-type"].startswith("application/problem+json"), what
        assert response.json()["status"] == response.status_code, what
    assert rows() == before, "nothing refused was stored"
    # UTF-16 and UTF-32 with a byte order mark are read as what they say (Python's json detects them, as
    # RFC 8259 lets a parser do): not refused, and stored faithfully.
    utf16 = '{"name": "Émile", "email": "e@example.com"}'.encode("utf-16")
    kept = httpx.post(f"{url}/users", content=utf16, headers={"content-type": "application/json"}, timeout=10)
    assert kept.status_code == 201, kept.text
    assert kept.json()["name"] == "Émile"
    before = rows()

    made = []
    for n, text in enumerate(HOSTILE_TEXT):
        created = httpx.post(f"{url}/users", json={"name": text, "email": f"h{n}@example.com"}, timeout=10)
        assert created.status_code == 201, (text, created.text)
        made.append(created.json())
        assert httpx.get(f"{url}/users/{made[-1]['id']}", timeout=10).json()["name"] == text
    for text in HOSTILE_TEXT:  # in the email too: refused as an address, never run as SQL
        response = httpx.post(f"{url}/users", json={"name": "x", "email": text}, timeout=10)
        assert response.status_code == 422, (text, response.text)
    for path in ("/users/1%20OR%201=1", "/users/1;DROP%20TABLE%20users", "/users?after_id=0%20OR%201=1"):
        assert httpx.get(f"{url}{path}", timeout=10).status_code == 422, path
    assert rows() == [*before, *made], "exactly the hostile rows were added, and every other row is intact"
    assert service.process.poll() is None
