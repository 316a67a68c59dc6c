"""The users API on a real PostgreSQL: CRUD, pagination, and every error code as problem+json."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from kubemaint_devstack.etcd import EtcdServer
from kubemaint_devstack.postgres import PostgresServer
from kubemaint_devstack.process import free_port

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["type"]
    return body


@pytest.fixture
async def client(start_app) -> AsyncIterator[httpx.AsyncClient]:
    async with start_app() as client:
        yield client


async def test_a_new_database_gets_three_sample_users(client: httpx.AsyncClient) -> None:
    response = await client.get("/users")
    assert response.status_code == 200
    users = response.json()
    assert [u["email"] for u in users] == ["alice@example.com", "bob@example.com", "carol@example.com"]
    assert response.headers["x-maintenance"] == "off"


async def test_seeding_can_be_turned_off(start_app) -> None:
    async with start_app(SEED_SAMPLE_DATA="false") as client:
        assert (await client.get("/users")).json() == []


async def test_an_empty_table_is_seeded_at_start_up_but_a_used_one_is_not(start_app) -> None:
    async with start_app() as client:
        for user in (await client.get("/users")).json():
            assert (await client.delete(f"/users/{user['id']}")).status_code == 204
    async with start_app() as client:
        assert len((await client.get("/users")).json()) == 3
        first = (await client.get("/users")).json()[0]
        assert (await client.delete(f"/users/{first['id']}")).status_code == 204
    async with start_app() as client:
        assert len((await client.get("/users")).json()) == 2


async def test_create_read_replace_delete(client: httpx.AsyncClient) -> None:
    created = await client.post("/users", json={"name": "Ada Lovelace", "email": "ada@example.com"})
    assert created.status_code == 201
    user = created.json()
    assert created.headers["location"] == f"/users/{user['id']}"
    assert user["name"] == "Ada Lovelace"
    assert user["email"] == "ada@example.com"
    assert user["created_at"] == user["updated_at"]

    fetched = await client.get(created.headers["location"])
    assert fetched.status_code == 200
    assert fetched.json() == user

    replaced = await client.put(
        f"/users/{user['id']}", json={"name": "Ada King", "email": "countess@example.com"}
    )
    assert replaced.status_code == 200
    assert replaced.json()["name"] == "Ada King"
    assert replaced.json()["email"] == "countess@example.com"
    assert replaced.json()["created_at"] == user["created_at"]
    assert replaced.json()["updated_at"] > user["updated_at"]

    deleted = await client.delete(f"/users/{user['id']}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_problem(await client.get(f"/users/{user['id']}"), 404)


async def test_listing_pages_with_limit_and_after_id(start_app) -> None:
    async with start_app(SEED_SAMPLE_DATA="false") as client:
        ids = []
        for n in range(7):
            response = await client.post("/users", json={"name": f"u{n}", "email": f"u{n}@example.com"})
            ids.append(response.json()["id"])
        first = await client.get("/users", params={"limit": 3})
        assert [u["id"] for u in first.json()] == ids[:3]
        assert first.headers["link"] == f'</users?limit=3&after_id={ids[2]}>; rel="next"'
        second = await client.get("/users", params={"limit": 3, "after_id": ids[2]})
        assert [u["id"] for u in second.json()] == ids[3:6]
        last = await client.get("/users", params={"limit": 3, "after_id": ids[5]})
        assert [u["id"] for u in last.json()] == ids[6:]
        assert "link" not in last.headers
        assert len((await client.get("/users")).json()) == 7  # default limit 100
        assert len((await client.get("/users", params={"limit": 1000})).json()) == 7


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"limit": "x"}, {"after_id": -1}])
async def test_bad_paging_parameters_are_422(client: httpx.AsyncClient, params: dict[str, object]) -> None:
    assert_problem(await client.get("/users", params=params), 422)


async def test_a_duplicate_email_is_409_regardless_of_case(client: httpx.AsyncClient) -> None:
    first = await client.post("/users", json={"name": "A", "email": "same@example.com"})
    assert first.status_code == 201
    body = assert_problem(await client.post("/users", json={"name": "B", "email": "Same@Example.com"}), 409)
    assert "same@example.com" in str(body["detail"]).lower()
    other = (await client.post("/users", json={"name": "C", "email": "other@example.com"})).json()
    clash = await client.put(f"/users/{other['id']}", json={"name": "C", "email": "SAME@example.com"})
    assert_problem(clash, 409)


@pytest.mark.parametrize(
    "body",
    [
        {"email": "no-name@example.com"},
        {"name": "No Email"},
        {"name": "", "email": "empty@example.com"},
        {"name": "   ", "email": "blank@example.com"},
        {"name": "x" * 256, "email": "long@example.com"},
        {"name": "Bad", "email": "not-an-email"},
        {"name": "Bad", "email": f"{'a' * 250}@example.com"},
        {"name": "Nul\u0000", "email": "nul@example.com"},
        {"name": 42, "email": "number@example.com"},
        {"name": ["a"], "email": "list@example.com"},
        [],
        "just a string",
        None,
    ],
)
async def test_an_invalid_body_is_422(client: httpx.AsyncClient, body: object) -> None:
    assert_problem(await client.post("/users", json=body), 422)
    assert_problem(await client.put("/users/1", json=body), 422)


async def test_a_body_that_is_not_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/users", content=b"{not json", headers={"content-type": "application/json"})
    assert_problem(response, 422)
    for raw in (b"\xff\xfe", b"-\xe9Y,k\xff\x15"):  # a UTF-16 mark, then bytes that are no encoding at all
        response = await client.post("/users", content=raw, headers={"content-type": "application/json"})
        assert_problem(response, 422)


async def test_a_lone_surrogate_in_the_body_is_422(client: httpx.AsyncClient) -> None:
    raw = b'{"name": "\\ud800", "email": "surrogate@example.com"}'
    response = await client.post("/users", content=raw, headers={"content-type": "application/json"})
    assert_problem(response, 422)


@pytest.mark.parametrize("user_id", ["abc", "0", "-1", "9223372036854775808", "1.5"])
async def test_an_invalid_id_is_422(client: httpx.AsyncClient, user_id: str) -> None:
    assert_problem(await client.get(f"/users/{user_id}"), 422)
    assert_problem(await client.put(f"/users/{user_id}", json={"name": "a", "email": "a@example.com"}), 422)
    assert_problem(await client.delete(f"/users/{user_id}"), 422)


async def test_an_unknown_id_is_404(client: httpx.AsyncClient) -> None:
    missing = "9223372036854775807"
    assert_problem(await client.get(f"/users/{missing}"), 404)
    assert_problem(await client.put(f"/users/{missing}", json={"name": "a", "email": "a@example.com"}), 404)
    assert_problem(await client.delete(f"/users/{missing}"), 404)


async def test_a_body_over_the_limit_is_413_whether_declared_or_streamed(start_app) -> None:
    async with start_app(MAX_BODY_BYTES="2048") as client:
        big = b'{"name": "' + b"x" * 4096 + b'", "email": "big@example.com"}'
        declared = await client.post("/users", content=big, headers={"content-type": "application/json"})
        assert_problem(declared, 413)

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(big), 512):
                yield big[start : start + 512]

        streamed = await client.post("/users", content=chunks(), headers={"content-type": "application/json"})
        assert_problem(streamed, 413)

        async def small() -> AsyncIterator[bytes]:
            yield b'{"name": "Small", '
            yield b'"email": "small@example.com"}'

        accepted = await client.post("/users", content=small(), headers={"content-type": "application/json"})
        assert accepted.status_code == 201, accepted.text


async def test_a_database_that_cannot_be_reached_is_503_not_500(start_app) -> None:
    async with start_app(DB_PORT=str(free_port())) as client:
        assert_problem(await client.get("/users"), 503)
        response = await client.post("/users", json={"name": "a", "email": "a@example.com"})
        assert_problem(response, 503)
        assert response.headers["retry-after"]
        assert (await client.get("/readyz")).status_code == 503
        assert (await client.get("/livez")).status_code == 200
        assert (await client.get("/stats")).json()["schemaReady"] is False


async def test_connections_cut_by_the_server_give_503_then_recover(
    client: httpx.AsyncClient, postgres: PostgresServer, fresh_database: str
) -> None:
    assert (await client.get("/users")).status_code == 200
    postgres.psql(
        "select pg_terminate_backend(pid) from pg_stat_activity "
        f"where datname = '{fresh_database}' and pid <> pg_backend_pid()",
        database="postgres",
    )
    statuses = [(await client.get("/users")).status_code for _ in range(3)]
    assert set(statuses) <= {200, 503}
    assert statuses[-1] == 200


async def test_operations_endpoints(client: httpx.AsyncClient) -> None:
    health = await client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "healthy"
    assert health.json()["maintenance"] is False
    assert health.json()["handlers"] == {"database": True}
    assert "timestamp" in health.json()
    assert (await client.get("/livez")).json() == {"status": "alive"}
    assert (await client.get("/readyz")).status_code == 200
    stats = (await client.get("/stats")).json()
    assert stats["maintenance"]["maintenance"] is False
    assert stats["maintenance"]["connected"] is True
    assert stats["pool"]["max"] == 5
    assert stats["pool"]["mode"] == "normal"
    assert {"min", "max", "size", "idle", "in_use"} <= set(stats["pool"])
    await client.get("/users/0")
    metrics = await client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert (
        'users_service_http_requests_total{method="GET",route="/users/{user_id}",status="422"} 1.0'
        in metrics.text
    )
    assert 'kubemaint_maintenance_active{mode="full"} 0.0' in metrics.text
    assert "kubemaint_etcd_connected 1.0" in metrics.text
    assert 'kubemaint_db_pool_connections{figure="max"} 5.0' in metrics.text


async def test_unknown_paths_and_methods_are_problems(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/nope"), 404)
    assert_problem(await client.patch("/users/1", json={}), 405)


async def test_a_pool_opened_late_during_a_maintenance_is_shrunk_like_the_others(
    start_app, postgres: PostgresServer, etcd: EtcdServer, unique_key: str
) -> None:
    """The database answers only after start-up, while a maintenance is on: the bootstrap asks the manager
    to re-apply its state to the pool it just opened (Manager.reapply), so the pool is at its maintenance
    size, as if it had been open at the transition."""
    etcd.put(unique_key, "true")
    port = free_port()
    forward: asyncio.Server | None = None

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def relay(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(postgres.host, postgres.port)
        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))

    try:
        async with start_app(DB_HOST="127.0.0.1", DB_PORT=str(port), DB_POOL_MAINTENANCE_MAX="1") as client:
            assert (await client.get("/stats")).json()["schemaReady"] is False
            forward = await asyncio.start_server(relay, "127.0.0.1", port)  # the database comes up
            for _ in range(200):
                stats = (await client.get("/stats")).json()
                if stats["schemaReady"]:
                    break
                await asyncio.sleep(0.1)
            assert stats["schemaReady"], stats
            assert stats["maintenance"]["maintenance"] is True, stats["maintenance"]
            assert stats["pool"]["max"] == 1, f"the late pool was not shrunk: {stats['pool']}"
    finally:
        if forward is not None:
            forward.close()
