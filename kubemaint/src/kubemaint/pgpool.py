"""PoolHandler: an asyncpg pool that shrinks during maintenance and grows back, without failing a query.

asyncpg has no pool resize, so a resize is a *counted swap*: a new pool of the new size becomes current,
and the old one is closed once nobody uses it. Every :meth:`PoolHandler.acquire` counts itself on the pool
it started with *before* waiting for a connection, so requests queued in the old pool's ``acquire()`` are
counted too and are served by the old pool; it is closed only when that count reaches 0. (``Pool.close()``
alone would break the queued ones.)

Why a swap rather than an acquisition gate over a full-size pool (both measured at 0 failed queries): with
the swap the server connections drop as soon as the old pool's last user is gone, deterministically, and
the normal pool keeps its usual idle lifetime. A gate only lowers them as idle connections time out, which
needs a short ``max_inactive_connection_lifetime`` all the time (connection churn in normal operation) and
makes the moment of "shrunk" a matter of timing.

A new pool connects its ``min_size`` floor at once (bounded by ``connect_timeout``); if the database does
not answer (it may be down for that very maintenance), the pool is made without a floor instead and
connects on demand, so a swap never fails because of the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from kubemaint.state import MaintenanceState, Mode

__all__ = ["PoolHandler"]

log = logging.getLogger(__name__)


class _CountedPool:
    """A pool and the number of tasks using it or waiting for one of its connections."""

    def __init__(self, pool: asyncpg.Pool, max_size: int, min_size: int) -> None:
        self.pool = pool
        self.max_size = max_size
        self.min_size = min_size
        self.users = 0
        self.unused = asyncio.Event()
        self.unused.set()

    def enter(self) -> None:
        self.users += 1
        self.unused.clear()

    def exit(self) -> None:
        self.users -= 1
        if self.users == 0:
            self.unused.set()


class PoolHandler:
    """A maintenance :class:`~kubemaint.manager.Handler` that owns the service's asyncpg pool.

    ``maintenance_max`` applies in ``full`` mode; ``readonly_max`` in ``read-only`` mode (``None``: keep
    ``max_size``, the pool keeps serving reads). ``connect_kwargs`` go to :func:`asyncpg.create_pool`
    (``dsn``, ``host``, ``user``, ``password``, ``database``, ``command_timeout``...).
    """

    name = "database"

    def __init__(
        self,
        *,
        min_size: int = 1,
        max_size: int = 10,
        maintenance_max: int = 1,
        readonly_max: int | None = None,
        retire_timeout: float = 30.0,
        connect_timeout: float = 5.0,
        **connect_kwargs: Any,
    ) -> None:
        if max_size < 1 or not 0 <= min_size <= max_size:
            raise ValueError("pool sizes need 0 <= min_size <= max_size and max_size >= 1")
        if maintenance_max < 1 or (readonly_max is not None and readonly_max < 1):
            raise ValueError("maintenance pool sizes must be at least 1")
        self.min_size = min_size
        self.max_size = max_size
        self.maintenance_max = maintenance_max
        self.readonly_max = readonly_max
        self.retire_timeout = retire_timeout
        self.connect_timeout = connect_timeout
        self._connect_kwargs = connect_kwargs
        self._current: _CountedPool | None = None
        self._retiring: set[_CountedPool] = set()
        self._retirements: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self.mode = "normal"
        self.resizes = 0

    async def open(self) -> None:
        """Create the normal pool, connecting its ``min_size`` connections now (errors show at start)."""
        if self._current is None:
            min_size = min(self.min_size, self.max_size)
            pool = await asyncpg.create_pool(
                min_size=min_size, max_size=self.max_size, **self._connect_kwargs
            )
            self._current = _CountedPool(pool, self.max_size, min_size)

    async def close(self) -> None:
        """Close every pool, retiring ones too, waiting up to ``retire_timeout`` for connections in use."""
        async with self._lock:
            pools = [p for p in (self._current, *self._retiring) if p is not None]
            self._current = None
        for task in list(self._retirements):
            task.cancel()
        for counted in pools:
            await self._close(counted)

    @property
    def pool(self) -> asyncpg.Pool:
        """The current pool (it changes on resize: prefer :meth:`acquire`)."""
        if self._current is None:
            raise RuntimeError("the pool is not open")
        return self._current.pool

    @asynccontextmanager
    async def acquire(self, *, wait: float | None = None) -> AsyncIterator[PoolConnectionProxy]:
        """A connection from the current pool; the pool knows it is in use until the block ends.

        ``wait`` bounds the wait for a free connection (``TimeoutError``). It is an ``asyncio.timeout``
        around asyncpg's acquire rather than asyncpg's own ``timeout``, which wraps every acquire in
        ``wait_for`` and so a new task: a tenth of a request's time in the service's profile.
        """
        counted = self._current
        if counted is None:
            raise RuntimeError("the pool is not open")
        counted.enter()
        try:
            async with asyncio.timeout(wait):
                connection = await counted.pool.acquire()
            try:
                yield connection
            finally:
                await counted.pool.release(connection)
        finally:
            counted.exit()

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async with self.acquire() as connection:
            return await connection.fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        async with self.acquire() as connection:
            return await connection.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self.acquire() as connection:
            return await connection.fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        async with self.acquire() as connection:
            return await connection.execute(query, *args)

    async def on_start(self, state: MaintenanceState) -> None:
        if state.mode is Mode.READ_ONLY:
            await self.resize(self.readonly_max or self.max_size, mode="read-only")
        else:
            await self.resize(self.maintenance_max, mode="maintenance")

    async def on_end(self, state: MaintenanceState) -> None:
        await self.resize(self.max_size, mode="normal")

    async def resize(self, max_size: int, *, mode: str) -> None:
        """Swap in a pool of ``max_size``; the old one is closed once nobody uses it.

        Shrinking returns once every old pool is closed (or after ``retire_timeout``), so the server
        connections have really dropped when maintenance is acknowledged. Growing returns as soon as the new
        pool is current: a long query still running on the small pool (a bypass request) must not keep the
        service refusing after maintenance ended; that pool retires in the background.
        """
        async with self._lock:
            current = self._current
            if current is None:
                raise RuntimeError("the pool is not open")
            self.mode = mode
            if current.max_size == max_size:
                return
            self._current = await self._create(max_size)
            self._retiring.add(current)
            self.resizes += 1
        log.info("database pool %d -> %d connections (%s)", current.max_size, max_size, mode)
        retirement = asyncio.create_task(self._retire(current))
        self._retirements.add(retirement)
        retirement.add_done_callback(self._retirements.discard)
        if max_size > current.max_size:
            return
        _, pending = await asyncio.wait({retirement, *self._retirements}, timeout=self.retire_timeout)
        if pending:
            log.warning("old database pool still in use after %.0f s; closing it later", self.retire_timeout)

    async def _retire(self, counted: _CountedPool) -> None:
        await counted.unused.wait()
        await self._close(counted)

    async def _close(self, counted: _CountedPool) -> None:
        try:
            async with asyncio.timeout(self.retire_timeout):
                await counted.pool.close()
        except Exception as exc:
            log.warning("closing a database pool failed (%s); terminating it", exc)
            counted.pool.terminate()
        finally:
            self._retiring.discard(counted)

    async def _create(self, max_size: int) -> _CountedPool:
        min_size = min(self.min_size, max_size)
        # Keep the Pool object before awaiting its initialisation: if the timeout cancels it, the
        # connections it already opened are terminated here (asyncpg 0.32 does so itself too; the test
        # that counts pg_stat_activity holds either way).
        pool = asyncpg.create_pool(min_size=min_size, max_size=max_size, **self._connect_kwargs)
        try:
            async with asyncio.timeout(self.connect_timeout):
                await pool
        except Exception as exc:
            with contextlib.suppress(Exception):
                pool.terminate()
            log.warning("database unreachable (%s): the new pool connects on demand", exc)
            min_size = 0
            pool = await asyncpg.create_pool(min_size=0, max_size=max_size, **self._connect_kwargs)
        return _CountedPool(pool, max_size, min_size)

    def health(self) -> bool:
        return self._current is not None and not self._current.pool.is_closing()

    def stats(self) -> dict[str, object]:
        counted = self._current
        if counted is None:
            return {"min": self.min_size, "max": 0, "size": 0, "idle": 0, "in_use": 0, "mode": "closed"}
        size = counted.pool.get_size()
        idle = counted.pool.get_idle_size()
        retiring = 0
        with contextlib.suppress(Exception):
            retiring = sum(p.pool.get_size() for p in self._retiring)
        return {
            "min": counted.min_size,
            "max": counted.max_size,
            "size": size,
            "idle": idle,
            "in_use": size - idle,
            "waiting": max(0, counted.users - (size - idle)),
            "retiring": retiring,
            "mode": self.mode,
            "resizes": self.resizes,
        }
