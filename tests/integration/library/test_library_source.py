"""EtcdSource against a real etcd: follows changes, survives restarts, cuts, freezes and compaction."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from kubemaint.client import EtcdConfig
from kubemaint.source import EtcdSource, Observation
from kubemaint_devstack.etcd import EtcdServer


class Recorder:
    """Collects what a source reports."""

    def __init__(self) -> None:
        self.observations: list[Observation] = []
        self.connections: list[bool] = []
        self.changed = asyncio.Event()

    def observe(self, observation: Observation) -> None:
        self.observations.append(observation)
        self.changed.set()

    def connection(self, connected: bool) -> None:
        self.connections.append(connected)
        self.changed.set()

    @property
    def raws(self) -> list[str | None]:
        return [o.raw for o in self.observations]

    async def wait_for(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


def make_source(endpoint: str, key: str, recorder: Recorder, **options: Any) -> EtcdSource:
    config = EtcdConfig.from_endpoints(endpoint, timeout=1.0)
    return EtcdSource(config, key, recorder.observe, recorder.connection, **options)


@contextlib.asynccontextmanager
async def following(endpoint: str, key: str, recorder: Recorder, **options: Any) -> AsyncIterator[EtcdSource]:
    """A started source that has read the key once; stopped at the end."""
    source = make_source(endpoint, key, recorder, **options)
    source.start()
    try:
        assert await source.wait_first(10.0)
        yield source
    finally:
        await source.stop()


@contextlib.asynccontextmanager
async def behind_a_proxy(
    etcd: EtcdServer, key: str, netcut: Any, **options: Any
) -> AsyncIterator[tuple[Any, Recorder, EtcdSource]]:
    """``key`` set to ``false`` and followed through a proxy that can cut or freeze the connection."""
    proxy = await netcut(etcd)
    etcd.put(key, "false")
    recorder = Recorder()
    async with following(proxy.endpoint, key, recorder, **options) as source:
        yield proxy, recorder, source


async def cut(proxy: Any, recorder: Recorder) -> None:
    """Cut the network and wait until the source says it is disconnected."""
    proxy.cut()
    await recorder.wait_for(lambda: recorder.connections[-1:] == [False], within=10.0)


def assert_no_duplicates(recorder: Recorder) -> None:
    revisions = [o.revision for o in recorder.observations]
    assert revisions == sorted(set(revisions)), f"duplicate or out-of-order revisions: {revisions}"


async def test_reads_the_current_value_then_follows_each_put(etcd: EtcdServer, unique_key: str) -> None:
    first = etcd.put(unique_key, "true")
    recorder = Recorder()
    async with following(etcd.endpoint, unique_key, recorder):
        assert recorder.observations[0].revision == first
        assert recorder.observations[0].state is not None
        assert recorder.observations[0].state.enabled
        latencies = []
        for i, value in enumerate(["false", '{"enabled": true, "mode": "read-only"}', "off", "1"] * 5):
            started = time.monotonic()
            revision = etcd.put(unique_key, value)
            await recorder.wait_for(lambda: recorder.observations[-1].revision == revision, within=5.0)  # noqa: B023
            latencies.append(time.monotonic() - started)
            assert recorder.raws[-1] == value, i
        assert_no_duplicates(recorder)
        assert len(recorder.observations) == 21
        assert max(latencies) < 5.0  # sanity only; bench/ measures the flip latency


async def test_a_missing_key_reads_as_off_and_a_delete_is_reported(etcd: EtcdServer, unique_key: str) -> None:
    recorder = Recorder()
    async with following(etcd.endpoint, unique_key, recorder):
        assert recorder.observations[0].raw is None
        assert recorder.observations[0].revision == 0
        etcd.put(unique_key, "on")
        await recorder.wait_for(lambda: recorder.raws[-1] == "on")
        etcd.delete(unique_key)
        await recorder.wait_for(lambda: len(recorder.observations) == 3)
        assert recorder.raws == [None, "on", None]
        last = recorder.observations[-1]
        assert last.state is not None
        assert not last.state.enabled


async def test_a_malformed_value_is_reported_as_an_error(etcd: EtcdServer, unique_key: str) -> None:
    recorder = Recorder()
    async with following(etcd.endpoint, unique_key, recorder) as source:
        etcd.put(unique_key, '{"enabled": maybe}')
        await recorder.wait_for(lambda: recorder.observations[-1].raw == '{"enabled": maybe}')
        bad = recorder.observations[-1]
        assert bad.state is None
        assert bad.error
        assert source.malformed == 1


async def test_etcd_restart_with_a_change_while_down_is_caught_up(
    etcd_factory: Callable[[], EtcdServer], unique_key: str
) -> None:
    server = etcd_factory()
    server.put(unique_key, "false")
    recorder = Recorder()
    async with following(server.endpoint, unique_key, recorder):
        server.kill()
        await recorder.wait_for(lambda: recorder.connections[-1:] == [False], within=10.0)
        await asyncio.to_thread(server.start)
        revision = server.put(unique_key, "true")
        await recorder.wait_for(lambda: recorder.observations[-1].revision == revision, within=10.0)
        assert recorder.raws == ["false", "true"]
        assert recorder.connections[-1] is True
        server.stop()
        await asyncio.to_thread(server.start)
        revision = server.put(unique_key, "off")
        await recorder.wait_for(lambda: recorder.observations[-1].revision == revision, within=10.0)
        assert recorder.raws == ["false", "true", "off"]
        assert_no_duplicates(recorder)


async def test_changes_made_during_a_network_cut_are_replayed_once_in_order(
    etcd: EtcdServer, unique_key: str, netcut: Any
) -> None:
    async with behind_a_proxy(etcd, unique_key, netcut) as (proxy, recorder, source):
        await cut(proxy, recorder)
        made = [etcd.put(unique_key, value) for value in ("true", '{"enabled": true, "reason": "r"}', "0")]
        proxy.heal()
        await recorder.wait_for(lambda: recorder.observations[-1].revision == made[-1], within=10.0)
        assert [o.revision for o in recorder.observations[1:]] == made
        assert recorder.raws == ["false", "true", '{"enabled": true, "reason": "r"}', "0"]
        assert source.connected


async def test_a_compacted_resume_revision_is_recovered_by_reading_again(
    etcd: EtcdServer, unique_key: str, netcut: Any
) -> None:
    async with behind_a_proxy(etcd, unique_key, netcut) as (proxy, recorder, source):
        await cut(proxy, recorder)
        etcd.put(unique_key, "true")
        last = etcd.put(unique_key, '{"enabled": true, "reason": "after compaction"}')
        etcd.compact(last)
        proxy.heal()
        await recorder.wait_for(lambda: recorder.observations[-1].revision == last, within=10.0)
        assert source.compactions >= 1
        assert recorder.raws[-1] == '{"enabled": true, "reason": "after compaction"}'
        assert_no_duplicates(recorder)
        after = etcd.put(unique_key, "off")
        await recorder.wait_for(lambda: recorder.observations[-1].revision == after, within=10.0)


async def test_the_watchdog_notices_a_frozen_connection(
    etcd: EtcdServer, unique_key: str, netcut: Any
) -> None:
    async with behind_a_proxy(etcd, unique_key, netcut, watchdog_interval=0.5) as (proxy, recorder, _):
        proxy.freeze()
        frozen_at = time.monotonic()
        revision = etcd.put(unique_key, "true")
        await recorder.wait_for(lambda: recorder.connections[-1:] == [False], within=15.0)
        noticed = time.monotonic() - frozen_at
        assert noticed < 15.0
        assert recorder.raws == ["false"]
        proxy.heal()
        await recorder.wait_for(lambda: recorder.observations[-1].revision == revision, within=10.0)
        assert recorder.connections[-1] is True
