"""etcd with authentication on: the library logs in, reads, writes, watches and acknowledges."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from kubemaint.client import EtcdConfig
from kubemaint.manager import Manager, ManagerConfig
from kubemaint.state import MaintenanceState
from kubemaint.store import StateStore
from kubemaint_devstack.etcd import EtcdServer

from tests.support.cli import kubemaint


def enable_auth(server: EtcdServer, password: str) -> None:
    server.etcdctl("user", "add", "root", f"--new-user-password={password}")
    server.etcdctl("user", "grant-role", "root", "root")
    server.etcdctl("auth", "enable")


async def test_manager_and_writer_work_with_a_password(
    etcd_factory: Callable[[], EtcdServer], unique_key: str
) -> None:
    server = etcd_factory()
    enable_auth(server, "s3cret-pw")
    config = EtcdConfig.from_endpoints(server.endpoint, username="root", password="s3cret-pw")
    manager = Manager(ManagerConfig(key=unique_key, etcd=config, instance="auth-a", ack_ttl=3))
    await manager.start()
    try:
        assert manager.connected
        async with StateStore.open(config) as writer:
            revision = await writer.put_state(unique_key, MaintenanceState(enabled=True, reason="auth"))
            async with asyncio.timeout(10):
                while not (manager.state.enabled and manager.revision == revision):
                    await asyncio.sleep(0.02)
                while not [a for a in await writer.list_acks(unique_key) if a.revision == revision]:
                    await asyncio.sleep(0.05)
            state, read_revision = await writer.get_state(unique_key)
            assert state.reason == "auth"
            assert read_revision == revision
    finally:
        await manager.stop()


async def test_a_wrong_password_is_an_error_not_a_hang(etcd_factory: Callable[[], EtcdServer]) -> None:
    server = etcd_factory()
    enable_auth(server, "right")
    config = EtcdConfig.from_endpoints(server.endpoint, username="root", password="wrong", timeout=2.0)
    with pytest.raises(Exception, match=r"(?i)auth"):
        async with asyncio.timeout(10), StateStore.open(config):
            pass


def test_the_cli_reports_a_wrong_password_in_one_line(etcd_factory: Callable[[], EtcdServer]) -> None:
    server = etcd_factory()
    enable_auth(server, "right")
    env = {"ETCD_ENDPOINTS": server.endpoint, "ETCD_USERNAME": "root", "ETCD_PASSWORD": "wrong"}
    done = kubemaint("status", "svc", **env)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "authentication failed" in done.stderr
    assert "wrong" not in done.stderr
    env["ETCD_PASSWORD"] = "right"
    done = kubemaint("on", "svc", **env)
    assert done.returncode == 0, done.stderr
