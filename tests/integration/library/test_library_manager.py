"""Manager against a real etcd: start-up state, handlers, drain, expiry, acks, loss policy, bad values."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from kubemaint.acks import Ack
from kubemaint.client import EtcdConfig
from kubemaint.manager import Manager, ManagerConfig
from kubemaint.policy import LossPolicy
from kubemaint.state import MaintenanceState, encode, format_time
from kubemaint.store import StateStore
from kubemaint_devstack.etcd import EtcdServer

from tests.support.polling import eventually_async


class RecordingHandler:
    """Records the calls it gets (a real handler would resize a pool or pause a consumer)."""

    name = "recorder"

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[tuple[str, str]] = []
        self.delay = delay

    async def on_start(self, state: MaintenanceState) -> None:
        await asyncio.sleep(self.delay)
        self.calls.append(("start", state.label))

    async def on_end(self, state: MaintenanceState) -> None:
        await asyncio.sleep(self.delay)
        self.calls.append(("end", state.label))

    def health(self) -> bool:
        return True

    def stats(self) -> dict[str, object]:
        return {"calls": len(self.calls)}


def config_for(endpoint: str, key: str, instance: str = "replica-a", **options: Any) -> ManagerConfig:
    etcd = EtcdConfig.from_endpoints(endpoint, timeout=1.0)
    return ManagerConfig(key=key, etcd=etcd, instance=instance, **options)


async def acks_of(endpoint: str, key: str) -> list[Ack]:
    async with StateStore.open(EtcdConfig.from_endpoints(endpoint)) as writer:
        return await writer.list_acks(key)


async def test_start_during_maintenance_starts_in_maintenance(etcd: EtcdServer, unique_key: str) -> None:
    revision = etcd.put(unique_key, "true")
    handler = RecordingHandler()
    manager = Manager(config_for(etcd.endpoint, unique_key))
    manager.register(handler)
    async with manager:
        assert manager.state.enabled
        assert handler.calls == [("start", "on")]
        assert manager.revision == revision
        assert manager.source == "etcd"
        assert manager.connected


async def test_flips_call_handlers_in_order_and_acks_follow(etcd: EtcdServer, unique_key: str) -> None:
    handler = RecordingHandler()
    manager = Manager(config_for(etcd.endpoint, unique_key, ack_ttl=5))
    manager.register(handler)
    async with manager:
        assert not manager.state.enabled
        await eventually_async(lambda: _acked(etcd.endpoint, unique_key, 0, False))
        on = etcd.put(unique_key, json.dumps({"enabled": True, "mode": "read-only", "reason": "r"}))
        await eventually_async(lambda: _acked(etcd.endpoint, unique_key, on, True))
        assert manager.state.label == "read-only"
        full = etcd.put(unique_key, "maintenance")
        await eventually_async(lambda: _acked(etcd.endpoint, unique_key, full, True))
        same = etcd.put(unique_key, "on")  # same meaning, new revision: acknowledged, no handler call
        await eventually_async(lambda: _acked(etcd.endpoint, unique_key, same, True))
        off = etcd.put(unique_key, "false")
        await eventually_async(lambda: _acked(etcd.endpoint, unique_key, off, False))
        assert handler.calls == [("start", "read-only"), ("start", "on"), ("end", "off")]
        assert manager.transitions == 3
        ack = (await acks_of(etcd.endpoint, unique_key))[0]
        assert ack.instance == "replica-a"
        assert ack.in_flight == 0
        assert ack.drained
    assert await acks_of(etcd.endpoint, unique_key) == []  # lease revoked on stop


async def _acked(endpoint: str, key: str, revision: int, maintenance: bool) -> bool:
    acks = await acks_of(endpoint, key)
    return any(a.revision == revision and a.maintenance is maintenance for a in acks)


async def test_entering_waits_for_in_flight_requests_then_acks(etcd: EtcdServer, unique_key: str) -> None:
    handler = RecordingHandler()
    manager = Manager(config_for(etcd.endpoint, unique_key))
    manager.register(handler)
    async with manager:
        manager.in_flight.enter()
        revision = etcd.put(unique_key, "true")
        await eventually_async(lambda: manager.state.enabled)  # new requests are refused at once
        await asyncio.sleep(0.5)
        assert handler.calls == []  # ...but the handler waits for the request in flight
        assert not await _acked(etcd.endpoint, unique_key, revision, True)
        manager.in_flight.exit()
        await eventually_async(lambda: handler.calls == [("start", "on")], timeout=5.0)
        await eventually_async(lambda: _acked(etcd.endpoint, unique_key, revision, True))


async def test_the_drain_timeout_bounds_the_wait(etcd: EtcdServer, unique_key: str) -> None:
    handler = RecordingHandler()
    manager = Manager(config_for(etcd.endpoint, unique_key, drain_timeout=0.5))
    manager.register(handler)
    async with manager:
        manager.in_flight.enter()
        revision = etcd.put(unique_key, "true")
        await eventually_async(lambda: handler.calls == [("start", "on")], timeout=5.0)
        assert manager.last_error is not None
        assert "drain timed out" in manager.last_error
        await eventually_async(lambda: _acked(etcd.endpoint, unique_key, revision, True))
        ack = next(a for a in await acks_of(etcd.endpoint, unique_key) if a.revision == revision)
        assert ack.in_flight == 1
        assert not ack.drained
        manager.in_flight.exit()


async def test_a_late_drain_is_acknowledged_without_a_new_etcd_write(
    etcd: EtcdServer, unique_key: str
) -> None:
    manager = Manager(config_for(etcd.endpoint, unique_key, drain_timeout=0.5))
    async with manager:
        manager.in_flight.enter()  # a request held in flight past the drain timeout
        revision = etcd.put(unique_key, "true")
        await eventually_async(lambda: _ack_of(etcd.endpoint, unique_key, revision))
        ack = await _ack_of(etcd.endpoint, unique_key, revision)
        assert ack is not None
        assert (ack.maintenance, ack.drained, ack.in_flight) == (True, False, 1)
        await asyncio.sleep(0.3)
        manager.in_flight.exit()
        await eventually_async(lambda: _drained_ack(etcd.endpoint, unique_key, revision))
        ack = await _ack_of(etcd.endpoint, unique_key, revision)
        assert ack is not None
        assert (ack.maintenance, ack.drained, ack.in_flight) == (True, True, 0)
        assert manager.revision == revision  # the maintenance value was not written again
        assert etcd.get(unique_key) == "true"
        assert manager.transitions == 1


async def test_a_late_drain_ends_with_the_next_transition_or_stop(etcd: EtcdServer, unique_key: str) -> None:
    manager = Manager(config_for(etcd.endpoint, unique_key, drain_timeout=0.3))
    async with manager:
        manager.in_flight.enter()  # never finishes while maintenance lasts
        on = etcd.put(unique_key, "true")
        await eventually_async(lambda: _ack_of(etcd.endpoint, unique_key, on))
        await eventually_async(lambda: _late_drains() == 1)
        off = etcd.put(unique_key, "false")
        await eventually_async(lambda: _ack_of(etcd.endpoint, unique_key, off))
        await eventually_async(lambda: _late_drains() == 0)
        again = etcd.put(unique_key, "true")
        await eventually_async(lambda: _ack_of(etcd.endpoint, unique_key, again))
        await eventually_async(lambda: _late_drains() == 1)
    assert _late_drains() == 0
    manager.in_flight.exit()


def _late_drains() -> int:
    return sum(
        1 for task in asyncio.all_tasks() if task.get_name().startswith("late drain ") and not task.done()
    )


async def _ack_of(endpoint: str, key: str, revision: int) -> Ack | None:
    return next((a for a in await acks_of(endpoint, key) if a.revision == revision), None)


async def _drained_ack(endpoint: str, key: str, revision: int) -> bool:
    ack = await _ack_of(endpoint, key, revision)
    return ack is not None and ack.drained


async def test_latest_state_wins_while_a_transition_is_in_progress(etcd: EtcdServer, unique_key: str) -> None:
    handler = RecordingHandler(delay=1.0)
    manager = Manager(config_for(etcd.endpoint, unique_key))
    manager.register(handler)
    async with manager:
        async with StateStore.open(EtcdConfig.from_endpoints(etcd.endpoint)) as writer:
            await writer.put_state(unique_key, MaintenanceState(enabled=True))
            await eventually_async(lambda: manager.state.enabled)
            # while on_start runs (1 s), the value flips four more times and ends off
            for enabled in (False, True, False, True):
                await writer.put_state(unique_key, MaintenanceState(enabled=enabled))
            last = await writer.put_state(unique_key, MaintenanceState(enabled=False))
        await eventually_async(lambda: manager.revision == last and not manager.state.enabled, timeout=10.0)
        await eventually_async(lambda: _acked(etcd.endpoint, unique_key, last, False))
        assert handler.calls == [("start", "on"), ("end", "off")]  # the intermediate values were coalesced
        assert manager.transitions == 2


async def test_maintenance_ends_at_until_without_an_etcd_event(etcd: EtcdServer, unique_key: str) -> None:
    handler = RecordingHandler()
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    revision = etcd.put(unique_key, encode(MaintenanceState(enabled=True, until=until)))
    manager = Manager(config_for(etcd.endpoint, unique_key))
    manager.register(handler)
    async with manager:
        assert manager.state.enabled
        assert manager.stats()["until"] == format_time(until)
        await eventually_async(lambda: not manager.state.enabled, timeout=10.0)
        assert datetime.now(UTC) >= until
        await eventually_async(lambda: handler.calls == [("start", "on"), ("end", "off")], timeout=5.0)
        await eventually_async(lambda: _acked(etcd.endpoint, unique_key, revision, False))
        assert manager.revision == revision  # nothing was written to etcd


class BlockingRestore(RecordingHandler):
    """``on_end`` waits until the test lets it finish: the pool being restored, slowly."""

    def __init__(self) -> None:
        super().__init__()
        self.restoring = asyncio.Event()
        self.release = asyncio.Event()

    async def on_end(self, state: MaintenanceState) -> None:
        self.restoring.set()
        await self.release.wait()
        await super().on_end(state)


async def test_at_until_requests_are_admitted_only_once_the_handlers_restored(
    etcd: EtcdServer, unique_key: str
) -> None:
    handler = BlockingRestore()
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)  # the value keeps seconds
    etcd.put(unique_key, encode(MaintenanceState(enabled=True, until=until)))
    manager = Manager(config_for(etcd.endpoint, unique_key))
    manager.register(handler)
    await manager.start()
    try:
        async with asyncio.timeout(15):
            await handler.restoring.wait()
        assert datetime.now(UTC) >= until
        assert manager.state.enabled, "past until but not restored yet: still refusing (restore, then admit)"
        assert manager.stats()["maintenance"] is True, "/stats agrees with admission"
        handler.release.set()
        await eventually_async(lambda: not manager.state.enabled, timeout=5.0)
        assert handler.calls == [("start", "on"), ("end", "off")]
    finally:
        handler.release.set()
        await manager.stop()


async def test_a_malformed_value_keeps_the_last_good_state(etcd: EtcdServer, unique_key: str) -> None:
    good = etcd.put(unique_key, "true")
    manager = Manager(config_for(etcd.endpoint, unique_key))
    async with manager:
        etcd.put(unique_key, '{"enabled": tru')
        await eventually_async(lambda: manager.etcd.malformed == 1)
        assert manager.state.enabled
        assert manager.revision == good
        stats = manager.stats()
        assert "malformed" in str(stats["lastError"])
        etcd_stats = stats["etcd"]
        assert isinstance(etcd_stats, dict)
        assert etcd_stats["malformed"] == 1
        fixed = etcd.put(unique_key, "false")
        await eventually_async(lambda: manager.revision == fixed and not manager.state.enabled)


async def test_closed_policy_enters_maintenance_after_the_grace_and_recovers(
    etcd: EtcdServer, unique_key: str, netcut: Any
) -> None:
    proxy = await netcut(etcd)
    etcd.put(unique_key, "false")
    handler = RecordingHandler()
    manager = Manager(
        config_for(
            proxy.endpoint, unique_key, on_etcd_loss=LossPolicy.CLOSED, loss_grace=1.0, acknowledge=False
        )
    )
    manager.register(handler)
    async with manager:
        proxy.cut()
        await eventually_async(lambda: not manager.connected, timeout=10.0)
        assert manager.source == "last-known"
        await eventually_async(lambda: manager.state.enabled, timeout=5.0)
        assert manager.source == "loss-policy"
        assert "unreachable" in manager.state.reason
        proxy.heal()
        await eventually_async(lambda: manager.connected and not manager.state.enabled, timeout=10.0)
        assert manager.source == "etcd"
        assert handler.calls == [("start", "on"), ("end", "off")]


async def test_open_policy_serves_after_the_grace(etcd: EtcdServer, unique_key: str, netcut: Any) -> None:
    proxy = await netcut(etcd)
    etcd.put(unique_key, "true")
    manager = Manager(
        config_for(
            proxy.endpoint, unique_key, on_etcd_loss=LossPolicy.OPEN, loss_grace=1.0, acknowledge=False
        )
    )
    async with manager:
        assert manager.state.enabled
        proxy.cut()
        await eventually_async(lambda: not manager.state.enabled, timeout=15.0)
        assert manager.source == "loss-policy"
        proxy.heal()
        await eventually_async(lambda: manager.state.enabled and manager.source == "etcd", timeout=10.0)


async def test_last_known_policy_keeps_the_state_while_etcd_is_down(
    etcd_factory: Callable[[], EtcdServer], unique_key: str
) -> None:
    server = etcd_factory()
    server.put(unique_key, "true")
    manager = Manager(config_for(server.endpoint, unique_key, loss_grace=0.5, acknowledge=False))
    async with manager:
        server.stop()
        await eventually_async(lambda: not manager.connected, timeout=10.0)
        await asyncio.sleep(1.0)
        assert manager.state.enabled
        assert manager.source == "last-known"
        await asyncio.to_thread(server.start)
        revision = server.put(unique_key, "off")
        await eventually_async(
            lambda: manager.revision == revision and not manager.state.enabled, timeout=10.0
        )


REPLICA = textwrap.dedent(
    """
    import asyncio, sys
    from kubemaint.client import EtcdConfig
    from kubemaint.manager import Manager, ManagerConfig

    async def main() -> None:
        config = ManagerConfig(key=sys.argv[2], etcd=EtcdConfig.from_endpoints(sys.argv[1]),
                               instance=sys.argv[3], ack_ttl=2)
        async with Manager(config):
            print("started", flush=True)
            await asyncio.sleep(600)

    asyncio.run(main())
    """
)


async def test_a_killed_replica_ack_disappears_when_its_lease_expires(
    etcd: EtcdServer, unique_key: str
) -> None:
    revision = etcd.put(unique_key, "true")
    process = subprocess.Popen(
        [sys.executable, "-c", REPLICA, etcd.endpoint, unique_key, "replica-killed"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 30)
        assert line.strip() == "started"
        await eventually_async(lambda: _acked(etcd.endpoint, unique_key, revision, True))
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        await eventually_async(lambda: _no_acks(etcd.endpoint, unique_key), timeout=15.0)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


async def _no_acks(endpoint: str, key: str) -> bool:
    return await acks_of(endpoint, key) == []


async def test_several_replicas_each_acknowledge(etcd: EtcdServer, unique_key: str) -> None:
    managers = [Manager(config_for(etcd.endpoint, unique_key, instance=f"r{i}")) for i in range(3)]
    for manager in managers:
        await manager.start()
    try:
        revision = etcd.put(unique_key, "true")
        await eventually_async(lambda: _all_acked(etcd.endpoint, unique_key, revision, 3))
        await managers[1].stop()
        acks = await acks_of(etcd.endpoint, unique_key)
        assert [a.instance for a in acks] == ["r0", "r2"]
    finally:
        for manager in managers:
            await manager.stop()


async def _all_acked(endpoint: str, key: str, revision: int, count: int) -> bool:
    acks = await acks_of(endpoint, key)
    return len([a for a in acks if a.revision == revision and a.maintenance]) == count


async def test_start_without_etcd_follows_the_loss_policy_then_catches_up(
    etcd: EtcdServer, unique_key: str, netcut: Any
) -> None:
    proxy = await netcut(etcd)
    proxy.cut()
    etcd.put(unique_key, "false")
    manager = Manager(
        config_for(
            proxy.endpoint,
            unique_key,
            on_etcd_loss=LossPolicy.CLOSED,
            loss_grace=0.5,
            start_timeout=1.0,
            acknowledge=False,
        )
    )
    await manager.start()  # returns after start_timeout even though etcd cannot be read
    try:
        assert manager.source in ("none", "loss-policy")
        await eventually_async(lambda: manager.state.enabled and manager.source == "loss-policy", timeout=5.0)
        proxy.heal()
        await eventually_async(lambda: manager.source == "etcd" and not manager.state.enabled, timeout=10.0)
    finally:
        await manager.stop()


async def test_a_value_with_a_start_opens_on_time_without_another_write(
    etcd: EtcdServer, unique_key: str
) -> None:
    """``start`` and ``until`` written ahead: the replica itself enters at ``start`` and leaves at
    ``until``, with nothing written to etcd in between."""
    handler = RecordingHandler()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    revision = etcd.put(
        unique_key, encode(MaintenanceState(enabled=True, start=start, until=start + timedelta(seconds=2)))
    )
    manager = Manager(config_for(etcd.endpoint, unique_key))
    manager.register(handler)
    async with manager:
        assert not manager.state.enabled, "before start: off"
        assert manager.revision == revision
        await eventually_async(lambda: manager.state.enabled, timeout=10.0)
        assert datetime.now(UTC) >= start
        await eventually_async(lambda: not manager.state.enabled, timeout=10.0)
        assert handler.calls == [("start", "on"), ("end", "off")]
        assert manager.revision == revision, "no new value at either boundary"
