"""StateStore against a real etcd: what the CLI and the operator use to write the key and read acks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from kubemaint.acks import acks_prefix
from kubemaint.client import EtcdConfig
from kubemaint.state import OFF, MaintenanceState, StateParseError, same_meaning
from kubemaint.store import StateStore
from kubemaint_devstack.etcd import EtcdServer


async def test_put_if_changed_writes_only_a_new_meaning(etcd: EtcdServer, unique_key: str) -> None:
    async with StateStore.open(EtcdConfig.from_endpoints(etcd.endpoint)) as writer:
        assert await writer.get_state(unique_key) == (OFF, 0)
        now = datetime.now(UTC)
        state = MaintenanceState(enabled=True, reason="db", sources=("shop/db",), updated_at=now)
        revision, written = await writer.put_if_changed(unique_key, state)
        assert written
        assert revision == etcd.revision()
        later = MaintenanceState(
            enabled=True, reason="db", sources=("shop/db",), updated_at=now + timedelta(minutes=1)
        )
        assert await writer.put_if_changed(unique_key, later) == (revision, False)
        etcd.put(unique_key, "{broken")
        with pytest.raises(StateParseError):
            await writer.get_state(unique_key)
        repaired, written = await writer.put_if_changed(unique_key, state)
        assert written
        stored, stored_revision = await writer.get_state(unique_key)
        assert same_meaning(stored, state)
        assert stored_revision == repaired
        deleted = await writer.delete_state(unique_key)
        assert deleted > repaired
        assert await writer.get_raw(unique_key) == (None, 0)


async def test_list_acks_skips_malformed_entries(etcd: EtcdServer, unique_key: str) -> None:
    etcd.put(acks_prefix(unique_key) + "good", '{"revision": 5, "maintenance": true, "inFlight": 0}')
    etcd.put(acks_prefix(unique_key) + "bad", "not json")
    etcd.put(unique_key + "-other/acks/x", '{"revision": 1, "maintenance": false}')
    async with StateStore.open(EtcdConfig.from_endpoints(etcd.endpoint)) as writer:
        acks = await writer.list_acks(unique_key)
    assert [(a.instance, a.revision, a.maintenance) for a in acks] == [("good", 5, True)]
