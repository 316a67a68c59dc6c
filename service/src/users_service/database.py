"""The service's view of its database: connections from the kubemaint :class:`PoolHandler`, and a 503
while the pool is not open yet (the database was unreachable at start-up: see :mod:`users_service.bootstrap`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

import asyncpg
from kubemaint.pgpool import PoolHandler

from users_service.problems import database_unavailable

__all__ = ["CONNECT_TIMEOUT", "Database", "check_credentials"]

ACQUIRE_TIMEOUT: Final = 10.0
CONNECT_TIMEOUT: Final = 10.0
"""Seconds a first connection (the credentials check, the bootstrap's first attempt) may take."""


async def check_credentials(params: dict[str, Any]) -> str | None:
    """One connection attempt before serving; the one-line problem if the server refuses who we are.

    Refused credentials or a missing database are configuration errors and end start-up (exit code 2)
    before uvicorn starts, so the operator reads one line instead of a lifespan traceback. An unreachable
    server is not: the service starts and keeps trying (:class:`users_service.bootstrap.Bootstrap`).
    """
    try:
        connection = await asyncpg.connect(**params, timeout=CONNECT_TIMEOUT)
    except asyncpg.InvalidAuthorizationSpecificationError as exc:
        return f"DB_USER / DB_PASSWORD: the database refused them ({type(exc).__name__})"
    except asyncpg.InvalidCatalogNameError:
        return f"DB_NAME: the server has no database {params.get('database')!r}"
    except Exception:
        return None
    await connection.close()
    return None


class Database:
    """Lends connections (:meth:`acquire`) once the pool is open; 503 before that."""

    def __init__(self, pool: PoolHandler) -> None:
        self.pool = pool
        self.opened = False

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        if not self.opened:
            raise database_unavailable("the database has not been reached yet, try again later")
        async with self.pool.acquire(wait=ACQUIRE_TIMEOUT) as connection:
            yield connection  # type: ignore[misc]  # a pool proxy: the Connection API, for callers

    async def open(self) -> None:
        if not self.opened:
            await self.pool.open()
            self.opened = True

    async def close(self) -> None:
        if self.opened:
            await self.pool.close()
            self.opened = False
