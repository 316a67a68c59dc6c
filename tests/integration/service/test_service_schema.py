"""Schema creation racing with itself, as when many replicas start together on an empty database."""

from __future__ import annotations

import asyncio

import asyncpg
from kubemaint_devstack.postgres import PostgresServer
from users_service.schema import ensure_schema


async def test_concurrent_schema_creation_succeeds_everywhere_and_seeds_once(
    postgres: PostgresServer, fresh_database: str
) -> None:
    connections = [await asyncpg.connect(postgres.dsn_for(fresh_database)) for _ in range(12)]
    try:
        start = asyncio.Event()

        async def replica(conn: asyncpg.Connection) -> bool:
            await start.wait()
            return await ensure_schema(conn, seed=True)

        tasks = [asyncio.create_task(replica(conn)) for conn in connections]
        await asyncio.sleep(0.05)
        start.set()
        seeded = await asyncio.gather(*tasks)
        assert seeded.count(True) == 1
        assert await connections[0].fetchval("SELECT count(*) FROM users") == 3
    finally:
        await asyncio.gather(*(conn.close() for conn in connections))
