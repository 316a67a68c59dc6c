"""The service's view of its database: connections from the kubemaint :class:`PoolHandler`, a 503 when
the pool is not open yet (the database was unreachable at start-up), and the start-up bootstrap.

Bootstrap: open the pool and create the schema. The first attempt runs during start-up, so a healthy
service is ready before it serves; if the database is unreachable then (it may be down for the very
maintenance this replica starts in), start-up goes on and the bootstrap keeps retrying in the background
(back-off capped at :data:`RETRY_CAP` seconds). Until it succeeds ``/readyz`` says not ready and ``/users``
answers 503. Refused credentials or a missing database are configuration errors: start-up fails at once,
with a log line naming the variables.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Final

import asyncpg
from kubemaint.pgpool import PoolHandler
from kubemaint.state import MaintenanceState

from users_service.problems import database_unavailable, is_database_unavailable
from users_service.schema import ensure_schema

__all__ = ["Database", "check_credentials"]

log = logging.getLogger(__name__)

ACQUIRE_TIMEOUT: Final = 10.0
FIRST_ATTEMPT_TIMEOUT: Final = 10.0
RETRY_START: Final = 0.5
RETRY_CAP: Final = 5.0


async def check_credentials(params: dict[str, Any]) -> str | None:
    """One connection attempt before serving; the one-line problem if the server refuses who we are.

    Refused credentials or a missing database are configuration errors and end start-up (exit code 2)
    before uvicorn starts, so the operator reads one line instead of a lifespan traceback. An unreachable
    server is not: the service starts and keeps trying (see :class:`Database`).
    """
    try:
        connection = await asyncpg.connect(**params, timeout=FIRST_ATTEMPT_TIMEOUT)
    except asyncpg.InvalidAuthorizationSpecificationError as exc:
        return f"DB_USER / DB_PASSWORD: the database refused them ({type(exc).__name__})"
    except asyncpg.InvalidCatalogNameError:
        return f"DB_NAME: the server has no database {params.get('database')!r}"
    except Exception:
        return None
    await connection.close()
    return None


class Database:
    """Lends connections (:meth:`acquire`) and owns the bootstrap task."""

    def __init__(self, pool: PoolHandler, *, seed: bool, state: Callable[[], MaintenanceState]) -> None:
        self.pool = pool
        self._seed = seed
        self._state = state
        self._opened = False
        self.schema_ready = False
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        if not self._opened:
            raise database_unavailable("the database has not been reached yet, try again later")
        async with self.pool.acquire(wait=ACQUIRE_TIMEOUT) as connection:
            yield connection  # type: ignore[misc]  # a pool proxy: the Connection API, for callers

    async def start(self) -> None:
        """Bootstrap now if the database answers in time, else keep trying in the background."""
        try:
            async with asyncio.timeout(FIRST_ATTEMPT_TIMEOUT):
                await self._bootstrap()
            return
        except asyncpg.InvalidAuthorizationSpecificationError as exc:
            log.error("the database refused DB_USER / DB_PASSWORD: %s", exc)
            raise
        except asyncpg.InvalidCatalogNameError as exc:
            log.error("DB_NAME names no database on the server: %s", exc)
            raise
        except Exception as exc:
            if not (is_database_unavailable(exc) or isinstance(exc, TimeoutError)):
                raise
            self._failed(exc)
        log.warning("starting without the database; retrying in the background: %s", self.last_error)
        self._task = asyncio.create_task(self._retry(), name="database bootstrap")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._opened:
            await self.pool.close()
            self._opened = False

    async def _retry(self) -> None:
        delay = RETRY_START
        while True:
            await asyncio.sleep(delay)
            try:
                await self._bootstrap()
            except Exception as exc:
                if not (is_database_unavailable(exc) or isinstance(exc, TimeoutError)):
                    log.exception("database bootstrap failed")
                self._failed(exc)
                delay = min(delay * 2, RETRY_CAP)
            else:
                log.info("database reached: schema ready")
                return

    async def _bootstrap(self) -> None:
        if not self._opened:
            await self.pool.open()
            self._opened = True
            state = self._state()
            if state.enabled:
                # The manager's on_start found no pool to shrink while the database was away.
                await self.pool.on_start(state)
        async with self.pool.acquire(wait=ACQUIRE_TIMEOUT) as connection:
            await ensure_schema(connection, seed=self._seed)  # type: ignore[arg-type]
        self.schema_ready = True
        self.last_error = None

    def _failed(self, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {exc}"
        if message != self.last_error:
            log.warning("database bootstrap: %s", message)
        self.last_error = message
