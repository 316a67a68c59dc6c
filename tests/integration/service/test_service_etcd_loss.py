"""The users service when its etcd goes away: it keeps the last known state (or follows
``MAINTENANCE_ON_ETCD_LOSS``), and catches up by itself when etcd is back."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from kubemaint_devstack.etcd import EtcdServer

from tests.support.polling import eventually_async


async def status_of(client: httpx.AsyncClient) -> int:
    return (await client.get("/users")).status_code


async def maintenance_source(client: httpx.AsyncClient) -> tuple[bool, str]:
    maintenance = (await client.get("/stats")).json()["maintenance"]
    return maintenance["connected"], maintenance["source"]


async def test_etcd_down_keeps_serving_and_a_change_after_its_restart_is_caught_up(
    start_app, etcd_factory: Callable[[], EtcdServer], unique_key: str
) -> None:
    own = etcd_factory()
    async with start_app(ETCD_ENDPOINTS=own.endpoint) as client:
        assert await status_of(client) == 200
        own.stop()

        async def lost() -> bool:
            return await maintenance_source(client) == (False, "last-known")

        await eventually_async(lost, timeout=15)
        assert await status_of(client) == 200  # last-known: off, still serving
        assert (await client.get("/readyz")).status_code == 200

        own.start()
        own.put(unique_key, "true")

        async def in_maintenance() -> bool:
            return await status_of(client) == 503

        await eventually_async(in_maintenance, timeout=15)
        assert await maintenance_source(client) == (True, "etcd")


async def test_the_closed_policy_enters_maintenance_after_the_grace_period(
    start_app, etcd_factory: Callable[[], EtcdServer]
) -> None:
    own = etcd_factory()
    async with start_app(
        ETCD_ENDPOINTS=own.endpoint, MAINTENANCE_ON_ETCD_LOSS="closed", MAINTENANCE_LOSS_GRACE="1"
    ) as client:
        assert await status_of(client) == 200
        own.kill()

        async def closed() -> bool:
            return await status_of(client) == 503

        await eventually_async(closed, timeout=20)
        assert await maintenance_source(client) == (False, "loss-policy")
        metrics = (await client.get("/metrics")).text
        assert 'kubemaint_maintenance_source{source="loss-policy"} 1.0' in metrics

        own.start()

        async def open_again() -> bool:
            return await status_of(client) == 200

        await eventually_async(open_again, timeout=20)
