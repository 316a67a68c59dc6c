"""SQL for the users table. Connections come from a :class:`ConnectionSource` (the kubemaint pool handler).

Every method acquires one connection for one statement, so a request holds a connection only while its
query runs and the pool can shrink between requests during maintenance.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Final, Protocol

import asyncpg

from users_service.models import User, UserIn

__all__ = ["ConnectionSource", "DuplicateEmailError", "UserRepository"]

# Literal SQL, every value a bind parameter ($n).
_LIST: Final = "SELECT id, name, email, created_at, updated_at FROM users WHERE id > $1 ORDER BY id LIMIT $2"
_GET: Final = "SELECT id, name, email, created_at, updated_at FROM users WHERE id = $1"
_INSERT: Final = (
    "INSERT INTO users (name, email) VALUES ($1, $2) RETURNING id, name, email, created_at, updated_at"
)
_UPDATE: Final = (
    "UPDATE users SET name = $2, email = $3, updated_at = now() WHERE id = $1 "
    "RETURNING id, name, email, created_at, updated_at"
)
_DELETE: Final = "DELETE FROM users WHERE id = $1"


class ConnectionSource(Protocol):
    """Anything that lends asyncpg connections: ``async with source.acquire() as conn``."""

    def acquire(self) -> AbstractAsyncContextManager[asyncpg.Connection]: ...


class DuplicateEmailError(Exception):
    """Another user already has this email (compared without regard to case)."""


def _user(row: asyncpg.Record) -> User:
    return User.model_validate(dict(row))


class UserRepository:
    """Create, read, update, delete and list users."""

    def __init__(self, connections: ConnectionSource) -> None:
        self._connections = connections

    async def list(self, *, limit: int, after_id: int) -> list[User]:
        """Users with ``id > after_id`` in id order: a keyset page that stays stable under inserts."""
        async with self._connections.acquire() as conn:
            rows = await conn.fetch(_LIST, after_id, limit)
        return [_user(row) for row in rows]

    async def get(self, user_id: int) -> User | None:
        async with self._connections.acquire() as conn:
            row = await conn.fetchrow(_GET, user_id)
        return None if row is None else _user(row)

    async def create(self, user: UserIn) -> User:
        try:
            async with self._connections.acquire() as conn:
                row = await conn.fetchrow(_INSERT, user.name, user.email)
        except asyncpg.UniqueViolationError:
            raise DuplicateEmailError(user.email) from None
        assert row is not None
        return _user(row)

    async def replace(self, user_id: int, user: UserIn) -> User | None:
        """Replace name and email; ``None`` when there is no such user."""
        try:
            async with self._connections.acquire() as conn:
                row = await conn.fetchrow(_UPDATE, user_id, user.name, user.email)
        except asyncpg.UniqueViolationError:
            raise DuplicateEmailError(user.email) from None
        return None if row is None else _user(row)

    async def delete(self, user_id: int) -> bool:
        async with self._connections.acquire() as conn:
            status = await conn.execute(_DELETE, user_id)
        return bool(status == "DELETE 1")

    async def ping(self) -> None:
        """One round trip to the database (readiness)."""
        async with self._connections.acquire() as conn:
            await conn.fetchval("SELECT 1")

    async def sleep(self, seconds: float) -> None:
        """Hold a connection in a real ``pg_sleep`` (the debug slow path used by tests and benchmarks)."""
        async with self._connections.acquire() as conn:
            await conn.execute("SELECT pg_sleep($1)", seconds)
