"""The start-up bootstrap of the database: open the pool and create the schema.

The first attempt runs during start-up, so a healthy service is ready before it serves; if the database is
unreachable then (it may be down for the very maintenance this replica starts in), start-up goes on and
the bootstrap keeps retrying in the background (back-off capped at :data:`RETRY_CAP` seconds). Until it
succeeds ``/readyz`` says not ready and ``/users`` answers 503. Refused credentials or a missing database
are configuration errors: start-up fails at once, with a log line naming the variables.

A pool opened late missed the manager's transition into a maintenance that was already on: the bootstrap
then asks the manager to re-apply its state to the pool (``after_open``), so that it is shrunk like the
others would have been.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final

import asyncpg
from kubemaint.tasks import cancel_and_wait

from users_service.database import CONNECT_TIMEOUT, Database
from users_service.problems import is_database_unavailable
from users_service.schema import ensure_schema

__all__ = ["Bootstrap"]

log = logging.getLogger(__name__)

RETRY_START: Final = 0.5
RETRY_CAP: Final = 5.0


class Bootstrap:
    """Opens ``database`` and creates the schema, now or in the background until it works."""

    def __init__(self, database: Database, *, seed: bool, after_open: Callable[[], Awaitable[None]]) -> None:
        self.database = database
        self._seed = seed
        self._after_open = after_open
        self.schema_ready = False
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bootstrap now if the database answers in time, else keep trying in the background."""
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await self._attempt()
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
        await cancel_and_wait(task)

    async def _retry(self) -> None:
        delay = RETRY_START
        while True:
            await asyncio.sleep(delay)
            try:
                await self._attempt()
            except Exception as exc:
                if not (is_database_unavailable(exc) or isinstance(exc, TimeoutError)):
                    log.exception("database bootstrap failed")
                self._failed(exc)
                delay = min(delay * 2, RETRY_CAP)
            else:
                log.info("database reached: schema ready")
                return

    async def _attempt(self) -> None:
        if not self.database.opened:
            await self.database.open()
            await self._after_open()
        async with self.database.acquire() as connection:
            await ensure_schema(connection, seed=self._seed)
        self.schema_ready = True
        self.last_error = None

    def _failed(self, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {exc}"
        if message != self.last_error:
            log.warning("database bootstrap: %s", message)
        self.last_error = message
