"""The users service under maintenance, driven through a real etcd with etcdctl, on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from kubemaint_devstack.etcd import EtcdServer
from kubemaint_devstack.postgres import PostgresServer

from tests.support.asgi import lifespan_client
from tests.support.polling import eventually_async

PROBLEM = "application/problem+json"
BODY = {"name": "Grace Hopper", "email": "grace@example.com"}
BYPASS = "an-operator-secret-0123456789"


async def every_kind_of_request(client: httpx.AsyncClient) -> list[httpx.Response]:
    return list(
        await asyncio.gather(
            client.get("/users"),
            client.get("/users/1"),
            client.post("/users", json=BODY),
            client.put("/users/1", json=BODY),
            client.delete("/users/2"),
            client.get("/users/not-a-number"),
            client.get("/docs"),
        )
    )


async def status_of(client: httpx.AsyncClient, path: str = "/users") -> int:
    return (await client.get(path)).status_code


async def test_etcdctl_put_true_turns_every_request_into_503_and_back(
    start_app, etcd: EtcdServer, unique_key: str
) -> None:
    async with start_app() as client:
        assert all(r.status_code < 500 for r in await every_kind_of_request(client))

        etcd.put(unique_key, "true")
        await eventually_async(lambda: _is(client, 503))
        for response in await every_kind_of_request(client):
            assert response.status_code == 503, (response.request.url, response.text)
            assert response.headers["content-type"] == PROBLEM
            assert response.headers["retry-after"] == "60"
            assert response.headers["x-maintenance"] == "on"
            body = response.json()
            assert body["status"] == 503
            assert "reason" in body
            assert "until" in body
        for path in ("/livez", "/readyz", "/stats", "/metrics"):
            response = await client.get(path)
            assert response.status_code == 200, path
            assert response.headers["x-maintenance"] == "on"
        health = await client.get("/health")
        assert health.status_code == 503
        assert health.json()["maintenance"] is True

        etcd.put(unique_key, "false")
        await eventually_async(lambda: _is(client, 200))
        responses = await every_kind_of_request(client)
        assert all(r.status_code < 500 for r in responses)
        assert all(r.headers["x-maintenance"] == "off" for r in responses)
        stats = (await client.get("/stats")).json()
        assert stats["transitions"] == 2


async def test_each_etcdctl_put_flips_the_answers_promptly(
    start_app, etcd: EtcdServer, unique_key: str
) -> None:
    """Five flips, each seen by the next requests. The 5 s bound only stops a hang on a loaded 2-core
    machine; how fast a flip is (p50/p99 over hundreds of flips) is measured by bench/flip_latency.py."""
    async with start_app() as client:
        for _ in range(5):
            for value, status in (("true", 503), ("false", 200)):
                etcd.put(unique_key, value)
                start = time.monotonic()
                while (await client.get("/users")).status_code != status:
                    elapsed = time.monotonic() - start
                    assert elapsed < 5.0, f"put {value}: still no {status} after {elapsed:.1f} s"
                    await asyncio.sleep(0.002)


async def test_a_handler_whose_health_raises_is_unhealthy_not_a_500(service_env: dict[str, str]) -> None:
    from users_service.app import create_app
    from users_service.settings import load_settings

    app = create_app(load_settings(service_env))

    def broken() -> bool:
        raise RuntimeError("health check exploded")

    async with lifespan_client(app) as client:
        app.state.runtime.pool.health = broken  # a fault in a handler's own code, on the real stack
        health = await client.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "unhealthy"
        assert health.json()["handlers"] == {"database": False}
        metrics = await client.get("/metrics")
        assert metrics.status_code == 200
        assert 'kubemaint_handler_healthy{handler="database"} 0.0' in metrics.text
        assert (await client.get("/stats")).status_code == 200


async def _is(client: httpx.AsyncClient, status: int) -> bool:
    return (await client.get("/users")).status_code == status


async def test_the_503_carries_reason_until_and_retry_after_from_the_value(
    start_app, etcd: EtcdServer, unique_key: str
) -> None:
    until = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    value = {
        "enabled": True,
        "mode": "full",
        "reason": "Postgres 16 upgrade",
        "retryAfter": 300,
        "until": until.isoformat().replace("+00:00", "Z"),
    }
    async with start_app() as client:
        etcd.put(unique_key, json.dumps(value))
        await eventually_async(lambda: _is(client, 503))
        response = await client.post("/users", json=BODY)
        assert response.headers["retry-after"] == "300"
        assert response.json()["reason"] == "Postgres 16 upgrade"
        assert response.json()["until"] == value["until"]
        health = (await client.get("/health")).json()
        assert health["reason"] == "Postgres 16 upgrade"


async def test_a_maintenance_past_its_until_ends_by_itself(
    start_app, etcd: EtcdServer, unique_key: str
) -> None:
    until = datetime.now(UTC) + timedelta(seconds=2)
    value = json.dumps({"enabled": True, "until": until.isoformat().replace("+00:00", "Z")})
    async with start_app() as client:
        etcd.put(unique_key, value)
        await eventually_async(lambda: _is(client, 503))
        await eventually_async(lambda: _is(client, 200), timeout=10)
        assert (await client.get("/stats")).json()["maintenance"]["maintenance"] is False


async def test_read_only_mode_serves_reads_and_refuses_writes(
    start_app, etcd: EtcdServer, unique_key: str
) -> None:
    async with start_app() as client:
        etcd.put(unique_key, json.dumps({"enabled": True, "mode": "read-only", "reason": "reindex"}))
        await eventually_async(lambda: _post_status(client, 503))
        listing = await client.get("/users")
        assert listing.status_code == 200
        assert listing.headers["x-maintenance"] == "read-only"
        assert (await client.get("/users/1")).status_code == 200
        assert (await client.head("/users")).status_code in (200, 405)
        for response in (
            await client.post("/users", json=BODY),
            await client.put("/users/1", json=BODY),
            await client.delete("/users/1"),
        ):
            assert response.status_code == 503
            assert response.headers["x-maintenance"] == "read-only"
            assert response.json()["mode"] == "read-only"
        stats = (await client.get("/stats")).json()
        assert stats["pool"]["mode"] == "read-only"
        assert stats["pool"]["max"] == 5  # DB_POOL_READONLY_MAX unset: unchanged

        etcd.delete(unique_key)
        await eventually_async(lambda: _post_status(client, 201))


async def _post_status(client: httpx.AsyncClient, status: int) -> bool:
    email = f"probe-{asyncio.get_running_loop().time()}@example.com"
    return (await client.post("/users", json={"name": "probe", "email": email})).status_code == status


async def test_an_in_flight_slow_request_completes_across_a_flip(
    start_app, etcd: EtcdServer, unique_key: str
) -> None:
    async with start_app() as client:
        slow = asyncio.create_task(client.get("/debug/slow", params={"seconds": 3}))
        await eventually_async(lambda: _in_flight(client, 1))
        etcd.put(unique_key, "true")
        await eventually_async(lambda: _is(client, 503))
        assert not slow.done()
        stats = (await client.get("/stats")).json()
        assert stats["maintenance"]["maintenance"] is True
        assert stats["pool"]["mode"] == "normal"  # not shrunk while the slow request drains
        response = await slow
        assert response.status_code == 200
        assert response.json() == {"slept": 3.0}
        await eventually_async(lambda: _pool(client, "maintenance", 1))


async def _in_flight(client: httpx.AsyncClient, count: int) -> bool:
    return (await client.get("/stats")).json()["inFlight"] == count


async def _pool(client: httpx.AsyncClient, mode: str, max_size: int) -> bool:
    pool = (await client.get("/stats")).json()["pool"]
    return pool["mode"] == mode and pool["max"] == max_size


async def test_the_pool_shrinks_in_maintenance_and_is_restored_after(
    start_app, etcd: EtcdServer, unique_key: str, postgres: PostgresServer, fresh_database: str
) -> None:
    def server_connections() -> int:
        return int(
            postgres.psql(
                f"select count(*) from pg_stat_activity where datname = '{fresh_database}' "
                "and application_name like 'users-service/%'",
                database="postgres",
            )
        )

    async with start_app(DB_POOL_MIN="1", DB_POOL_MAX="5", DB_POOL_MAINTENANCE_MAX="1") as client:
        responses = await asyncio.gather(
            *(client.get("/debug/slow", params={"seconds": 0.3}) for _ in range(5))
        )
        assert [r.status_code for r in responses] == [200] * 5
        assert server_connections() == 5
        etcd.put(unique_key, "true")
        await eventually_async(lambda: _pool(client, "maintenance", 1))
        await eventually_async(lambda: server_connections() <= 1)
        etcd.put(unique_key, "off")
        await eventually_async(lambda: _is(client, 200))  # the pool is restored before requests are admitted
        assert (await client.get("/stats")).json()["pool"]["max"] == 5
        responses = await asyncio.gather(
            *(client.get("/debug/slow", params={"seconds": 0.3}) for _ in range(5))
        )
        assert [r.status_code for r in responses] == [200] * 5
        assert server_connections() == 5


async def test_the_bypass_header_lets_an_operator_in(start_app, etcd: EtcdServer, unique_key: str) -> None:
    async with start_app(MAINTENANCE_BYPASS_SECRET=BYPASS) as client:
        etcd.put(unique_key, "maintenance")
        await eventually_async(lambda: _is(client, 503))
        allowed = await client.get("/users", headers={"X-Maintenance-Bypass": BYPASS})
        assert allowed.status_code == 200
        assert allowed.headers["x-maintenance"] == "on"
        wrong = await client.get("/users", headers={"X-Maintenance-Bypass": BYPASS + "x"})
        assert wrong.status_code == 503


async def test_without_a_secret_there_is_no_bypass(start_app, etcd: EtcdServer, unique_key: str) -> None:
    async with start_app() as client:
        etcd.put(unique_key, "on")
        await eventually_async(lambda: _is(client, 503))
        assert (await client.get("/users", headers={"X-Maintenance-Bypass": ""})).status_code == 503


@pytest.mark.parametrize(("follows", "status"), [("false", 200), ("true", 503)])
async def test_readiness_follows_maintenance_only_when_asked(
    start_app, etcd: EtcdServer, unique_key: str, follows: str, status: int
) -> None:
    async with start_app(READINESS_FOLLOWS_MAINTENANCE=follows) as client:
        etcd.put(unique_key, "1")
        await eventually_async(lambda: _is(client, 503))
        assert (await client.get("/readyz")).status_code == status
        assert (await client.get("/livez")).status_code == 200


async def test_start_up_during_maintenance_starts_in_it(start_app, etcd: EtcdServer, unique_key: str) -> None:
    etcd.put(unique_key, json.dumps({"enabled": True, "reason": "restore"}))
    async with start_app() as client:
        first = await client.get("/users")
        assert first.status_code == 503
        assert first.json()["reason"] == "restore"
        assert (await client.get("/stats")).json()["pool"]["mode"] == "maintenance"


async def test_a_malformed_value_keeps_the_last_good_state(
    start_app, etcd: EtcdServer, unique_key: str
) -> None:
    async with start_app() as client:
        etcd.put(unique_key, "true")
        await eventually_async(lambda: _is(client, 503))
        etcd.put(unique_key, "{broken")
        await eventually_async(lambda: _malformed(client))
        assert await status_of(client) == 503
        metrics = (await client.get("/metrics")).text
        assert "kubemaint_etcd_malformed_values_total 1.0" in metrics


async def _malformed(client: httpx.AsyncClient) -> bool:
    return (await client.get("/stats")).json()["maintenance"]["etcd"]["malformed"] == 1


async def test_the_replica_acknowledges_each_transition(
    start_app, etcd: EtcdServer, unique_key: str, service_env: dict[str, str]
) -> None:
    ack_key = f"{unique_key}/acks/{service_env['INSTANCE_NAME']}"

    def ack() -> dict[str, object] | None:
        raw = etcd.get(ack_key)
        return None if raw is None else json.loads(raw)

    async with start_app() as client:
        await eventually_async(lambda: ack() is not None)
        revision = etcd.put(unique_key, "true")
        await eventually_async(lambda: (ack() or {}).get("revision") == revision)
        assert ack()["maintenance"] is True
        assert ack()["inFlight"] == 0
        assert await status_of(client) == 503
    await eventually_async(lambda: ack() is None)  # a clean stop removes it


async def test_read_only_mode_shrinks_the_pool_only_to_its_own_maximum(
    start_app, etcd: EtcdServer, unique_key: str
) -> None:
    async with start_app(DB_POOL_MAX="5", DB_POOL_READONLY_MAX="2") as client:
        etcd.put(unique_key, json.dumps({"enabled": True, "mode": "read-only"}))
        await eventually_async(lambda: _pool(client, "read-only", 2))
        listing = await asyncio.gather(*(client.get("/users") for _ in range(6)))
        assert [r.status_code for r in listing] == [200] * 6
        etcd.put(unique_key, json.dumps({"enabled": True, "mode": "full"}))
        await eventually_async(lambda: _pool(client, "maintenance", 1))
        assert (await client.get("/users")).status_code == 503


async def test_maintenance_503s_are_counted_under_their_route_with_one_problem_scheme(
    start_app, etcd: EtcdServer, unique_key: str
) -> None:
    async with start_app() as client:
        etcd.put(unique_key, "true")
        await eventually_async(lambda: _is(client, 503))
        refused = await client.get("/users/7")
        assert refused.status_code == 503
        assert refused.json()["type"] == "urn:kubemaint:problem:maintenance"
        await client.get("/no/such/path")
        etcd.put(unique_key, "false")
        await eventually_async(lambda: _is(client, 200))
        conflict = await client.post("/users", json=BODY)
        again = await client.post("/users", json=BODY)
        assert conflict.status_code == 201
        assert again.status_code == 409
        assert again.json()["type"].startswith("urn:kubemaint:problem:"), "one scheme for every problem type"
        metrics = (await client.get("/metrics")).text
        assert (
            'users_service_http_requests_total{method="GET",route="/users/{user_id}",status="503"} 1.0'
            in metrics
        )
        assert 'route="unmatched",status="503"' in metrics, "a path no route knows stays unmatched"
