"""PoolHandler against a real PostgreSQL: the server connections shrink and come back, no query fails."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg
import pytest
from kubemaint.pgpool import PoolHandler
from kubemaint.state import MaintenanceState, Mode
from kubemaint_devstack.postgres import PostgresServer

from tests.support.polling import eventually_async

FULL = MaintenanceState(enabled=True)
READ_ONLY = MaintenanceState(enabled=True, mode=Mode.READ_ONLY)
OFF = MaintenanceState()


@dataclass
class Load:
    """Workers that query through the handler without pause, counting successes and failures."""

    handler: PoolHandler
    workers: int = 16
    ok: int = 0
    errors: list[BaseException] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work(i)) for i in range(self.workers)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _work(self, worker: int) -> None:
        while not self._stop.is_set():
            try:
                value = await self.handler.fetchval("select $1::int from pg_sleep(0.005)", worker)
                assert value == worker
                self.ok += 1
            except Exception as exc:
                self.errors.append(exc)
                await asyncio.sleep(0.01)


@pytest.fixture
async def counter(postgres: PostgresServer) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(postgres.dsn_for("postgres"))
    yield connection
    await connection.close()


async def server_connections(counter: asyncpg.Connection, application: str) -> int:
    return int(
        await counter.fetchval(
            "select count(*) from pg_stat_activity where application_name = $1", application
        )
    )


async def eventually_count(
    counter: asyncpg.Connection, application: str, check: object, within: float = 10.0
) -> int:
    assert callable(check)
    counts: list[int] = []

    async def matches() -> bool:
        counts.append(await server_connections(counter, application))
        return bool(check(counts[-1]))

    await eventually_async(matches, within, f"the server connections of {application}", every=0.05)
    return counts[-1]


async def retired(handler: PoolHandler, within: float = 10.0) -> None:
    """Wait until no old pool is left open."""
    await eventually_async(lambda: handler.stats()["retiring"] == 0, within, "no old pool left", every=0.02)


@contextlib.asynccontextmanager
async def opened(handler: PoolHandler) -> AsyncIterator[PoolHandler]:
    """The handler's pool open for the block, closed after it."""
    await handler.open()
    try:
        yield handler
    finally:
        await handler.close()


def make_handler(postgres: PostgresServer, database: str, application: str, **sizes: int) -> PoolHandler:
    return PoolHandler(
        dsn=postgres.dsn_for(database), server_settings={"application_name": application}, **sizes
    )


async def test_pool_shrinks_to_the_maintenance_max_and_restores_without_a_failed_query(
    postgres: PostgresServer, fresh_database: str, counter: asyncpg.Connection
) -> None:
    application = f"kubemaint-pool-{secrets.token_hex(4)}"
    handler = make_handler(postgres, fresh_database, application, min_size=2, max_size=8, maintenance_max=1)
    await handler.open()
    load = Load(handler)
    load.start()
    try:
        assert await eventually_count(counter, application, lambda n: n >= 4) <= 8
        await handler.on_start(FULL)
        assert await server_connections(counter, application) <= 1  # the old pool is closed on return
        served_in_maintenance = load.ok
        await asyncio.sleep(0.5)
        assert await server_connections(counter, application) <= 1
        assert load.ok > served_in_maintenance  # still serving, through one connection
        stats = handler.stats()
        assert (stats["max"], stats["mode"], stats["size"]) == (1, "maintenance", 1)
        await handler.on_end(OFF)
        await retired(handler)  # the maintenance pool closes in the background once its last user is done
        assert await eventually_count(counter, application, lambda n: n >= 4) <= 8
        assert handler.stats()["max"] == 8
        assert handler.stats()["mode"] == "normal"
    finally:
        await load.stop()
        await handler.close()
    assert load.errors == []
    assert load.ok > 100
    assert await eventually_count(counter, application, lambda n: n == 0) == 0


async def test_read_only_keeps_serving_reads_with_its_own_limit(
    postgres: PostgresServer, fresh_database: str, counter: asyncpg.Connection
) -> None:
    application = f"kubemaint-pool-{secrets.token_hex(4)}"
    handler = make_handler(
        postgres, fresh_database, application, min_size=1, max_size=8, maintenance_max=1, readonly_max=3
    )
    await handler.open()
    load = Load(handler)
    load.start()
    try:
        await eventually_count(counter, application, lambda n: n >= 4)
        await handler.on_start(READ_ONLY)
        assert await server_connections(counter, application) <= 3
        assert handler.stats()["mode"] == "read-only"
        await handler.on_start(FULL)  # switching mode to full shrinks further
        assert await server_connections(counter, application) <= 1
        await handler.on_end(OFF)
    finally:
        await load.stop()
        await handler.close()
    assert load.errors == []


async def test_read_only_without_a_limit_leaves_the_pool_alone(
    postgres: PostgresServer, fresh_database: str
) -> None:
    application = f"kubemaint-pool-{secrets.token_hex(4)}"
    handler = make_handler(postgres, fresh_database, application, min_size=1, max_size=5)
    async with opened(handler):
        await handler.on_start(READ_ONLY)
        assert handler.stats()["max"] == 5
        assert handler.resizes == 0
        assert await handler.fetchval("select 1") == 1


async def test_a_connection_held_across_a_resize_keeps_working(
    postgres: PostgresServer, fresh_database: str, counter: asyncpg.Connection
) -> None:
    application = f"kubemaint-pool-{secrets.token_hex(4)}"
    handler = make_handler(postgres, fresh_database, application, min_size=1, max_size=4, maintenance_max=1)
    handler.retire_timeout = 0.5
    async with opened(handler):
        async with handler.acquire() as held:
            await handler.on_start(FULL)  # returns after retire_timeout; the old pool retires later
            assert await held.fetchval("select 42") == 42
            assert handler.stats()["retiring"] == 1
        await eventually_count(counter, application, lambda n: n <= 1)
        assert handler.stats()["retiring"] == 0


async def hold_connection(handler: PoolHandler, held: asyncio.Event, release: asyncio.Event) -> int:
    """A long request: takes a connection, says so, keeps it until ``release``, then uses it again."""
    async with handler.acquire() as connection:
        held.set()
        await release.wait()
        return int(await connection.fetchval("select 7"))


async def test_restoring_returns_at_once_while_a_query_still_holds_the_small_pool(
    postgres: PostgresServer, fresh_database: str, counter: asyncpg.Connection
) -> None:
    application = f"kubemaint-pool-{secrets.token_hex(4)}"
    handler = make_handler(postgres, fresh_database, application, min_size=2, max_size=6, maintenance_max=1)
    handler.retire_timeout = 120.0  # the old wait would outlast the bound below by far
    await handler.open()
    held, release = asyncio.Event(), asyncio.Event()
    try:
        await handler.on_start(FULL)
        bypass = asyncio.create_task(hold_connection(handler, held, release))
        await asyncio.wait_for(held.wait(), 10)
        await asyncio.wait_for(handler.on_end(OFF), 10)  # does not wait for the held connection
        assert not bypass.done()
        stats = handler.stats()
        assert (stats["max"], stats["mode"], stats["retiring"]) == (6, "normal", 1)
        assert await handler.fetchval("select 1") == 1  # served by the restored pool meanwhile
        release.set()
        assert await asyncio.wait_for(bypass, 10) == 7  # the query on the retiring pool never broke
        await retired(handler)
        assert await server_connections(counter, application) <= 6
    finally:
        release.set()
        await handler.close()
    assert await eventually_count(counter, application, lambda n: n == 0) == 0


async def test_shrinking_still_waits_for_a_pool_retiring_from_a_restore(
    postgres: PostgresServer, fresh_database: str, counter: asyncpg.Connection
) -> None:
    application = f"kubemaint-pool-{secrets.token_hex(4)}"
    handler = make_handler(postgres, fresh_database, application, min_size=1, max_size=4, maintenance_max=1)
    handler.retire_timeout = 30.0
    await handler.open()
    held, release = asyncio.Event(), asyncio.Event()
    try:
        await handler.on_start(FULL)
        bypass = asyncio.create_task(hold_connection(handler, held, release))
        await asyncio.wait_for(held.wait(), 10)
        await handler.on_end(OFF)
        shrink = asyncio.create_task(handler.on_start(FULL))
        await asyncio.sleep(0.5)
        assert not shrink.done()  # a connection of an old pool is still open on the server
        release.set()
        await asyncio.wait_for(shrink, 10)
        assert await bypass == 7
        assert await server_connections(counter, application) <= 1
        assert handler.stats()["retiring"] == 0
    finally:
        release.set()
        await handler.close()


async def test_close_closes_a_pool_still_retiring(
    postgres: PostgresServer, fresh_database: str, counter: asyncpg.Connection
) -> None:
    application = f"kubemaint-pool-{secrets.token_hex(4)}"
    handler = make_handler(postgres, fresh_database, application, min_size=1, max_size=4, maintenance_max=1)
    handler.retire_timeout = 0.5
    await handler.open()
    held, release = asyncio.Event(), asyncio.Event()
    bypass: asyncio.Task[int] | None = None
    try:
        await handler.on_start(FULL)
        bypass = asyncio.create_task(hold_connection(handler, held, release))
        await asyncio.wait_for(held.wait(), 10)
        await handler.on_end(OFF)
        assert handler.stats()["retiring"] == 1
        await handler.close()  # waits retire_timeout for the held connection, then terminates its pool
        assert handler.stats()["mode"] == "closed"
        assert await eventually_count(counter, application, lambda n: n == 0) == 0
    finally:
        release.set()
        await handler.close()
        if bypass is not None:
            await asyncio.gather(bypass, return_exceptions=True)


@pytest.mark.parametrize("fast_first", [0, 1], ids=["all-slow", "first-fast"])
async def test_a_pool_whose_creation_times_out_leaves_no_connection_behind(
    postgres: PostgresServer, fresh_database: str, counter: asyncpg.Connection, fast_first: int
) -> None:
    """The new pool's floor connects (the server sees it) but each connection's set-up outlasts
    ``connect_timeout``: the cancelled creation must close what it opened (seen in pg_stat_activity)."""
    application = f"kubemaint-pool-{secrets.token_hex(4)}"
    slow = asyncio.Event()
    fast = [fast_first]

    async def init(connection: asyncpg.Connection) -> None:
        if slow.is_set():
            if fast[0] > 0:  # the creation's first connection may be quick, the others then time out
                fast[0] -= 1
                return
            await asyncio.sleep(3)

    handler = PoolHandler(
        dsn=postgres.dsn_for(fresh_database),
        server_settings={"application_name": application},
        init=init,
        min_size=3,
        max_size=4,
        readonly_max=3,
        connect_timeout=0.5,
    )
    async with opened(handler):
        assert await eventually_count(counter, application, lambda n: n == 3) == 3
        slow.set()
        await handler.on_start(READ_ONLY)  # times out creating the 3-connection pool, falls back
        slow.clear()
        await retired(handler)
        await asyncio.sleep(4)  # past the slow set-up: whatever it opened has finished by now
        assert await server_connections(counter, application) == 0, "connections of a timed-out pool leaked"
        assert await handler.fetchval("select 1") == 1, "the fallback pool connects on demand"
        assert handler.stats()["max"] == 3
    assert await eventually_count(counter, application, lambda n: n == 0) == 0
