"""The operator's etcd clients after a failure: the failed client is replaced, also for the operator's own
etcd (no ``spec.etcd``), and only the failed one, so a concurrent reconcile's fresh client stays open."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from etcd3aio.errors import EtcdConnectionError, EtcdUnauthenticatedError
from kubemaint.client import EtcdConfig
from kubemaint.state import MaintenanceState
from kubemaint.store import StateStore
from kubemaint_devstack.etcd import EtcdServer
from kubemaint_operator.etcd_clients import EtcdClients
from kubemaint_operator.kube import KubeClient
from kubemaint_operator.targets import EtcdTarget
from kubernetes_asyncio import client

ON = MaintenanceState(enabled=True, reason="clients")


@pytest.fixture
async def kube_client() -> AsyncIterator[KubeClient]:
    """Never called for the operator's own etcd (no Secret to read); the constructor needs one."""
    api = client.ApiClient()
    yield KubeClient(api)
    await api.close()


async def test_default_etcd_client_is_reopened_after_it_failed(
    etcd_factory: Callable[[], EtcdServer], kube_client: KubeClient, tmp_path: Path, unique_key: str
) -> None:
    secured = etcd_factory()
    secured.etcdctl("user", "add", "root", "--new-user-password=root-pass")
    secured.etcdctl("auth", "enable")
    config = EtcdConfig.from_endpoints(secured.endpoint, username="root", password="root-pass", timeout=3.0)
    clients = EtcdClients(config, kube_client, tmp_path)
    target = EtcdTarget(endpoints=(), key=unique_key)
    try:
        first = await clients.writer(target)
        await first.put_state(unique_key, ON)
        secured.restart()  # its simple auth tokens are gone: the client's token is now invalid
        await _until_unauthenticated(first, unique_key)
        await clients.discard(target, first)
        fresh = await clients.writer(target)
        assert fresh is not first
        raw, revision = await fresh.get_raw(unique_key)
        assert raw is not None
        assert revision > 0
    finally:
        await clients.close()


async def _until_unauthenticated(writer: StateStore, key: str) -> None:
    """Wait (bounded) until the client has reconnected and etcd rejects its old token."""
    deadline = time.monotonic() + 20
    while True:
        try:
            await writer.get_raw(key)
        except EtcdUnauthenticatedError:
            return
        except EtcdConnectionError:
            pass  # the channel has not reconnected yet
        assert time.monotonic() < deadline, "etcd never rejected the old token"
        await asyncio.sleep(0.2)


async def test_discard_drops_only_the_client_that_failed(
    etcd: EtcdServer, kube_client: KubeClient, tmp_path: Path, unique_key: str
) -> None:
    clients = EtcdClients(EtcdConfig.from_endpoints(etcd.endpoint), kube_client, tmp_path)
    target = EtcdTarget(endpoints=(), key=unique_key)
    try:
        failed = await clients.writer(target)
        assert await clients.writer(target) is failed, "one client per etcd until it fails"
        await clients.discard(target, failed)
        fresh = await clients.writer(target)
        assert fresh is not failed
        await clients.discard(target, failed)  # a concurrent reconcile reporting the same old failure
        assert await clients.writer(target) is fresh
        assert await fresh.put_state(unique_key, ON) > 0, "the fresh client was not closed"
    finally:
        await clients.close()


async def test_a_discarded_client_serves_the_calls_already_made_on_it(
    etcd: EtcdServer, kube_client: KubeClient, tmp_path: Path, unique_key: str
) -> None:
    """Several daemons share one client. When one discards it after a failure, the others' calls on it must
    not be cut: closing its channel at once made grpc.aio raise CancelledError in them, which ended their
    daemons for good (100 Maintenances, bench/operator_scale.py). It closes once their deadlines passed."""
    clients = EtcdClients(EtcdConfig.from_endpoints(etcd.endpoint, timeout=2.0), kube_client, tmp_path)
    target = EtcdTarget(endpoints=(), key=unique_key)
    try:
        shared = await clients.writer(target)
        await shared.put_state(unique_key, ON)
        await clients.discard(target, shared)
        raw, _ = await asyncio.wait_for(shared.get_raw(unique_key), 10)  # another daemon's call, just after
        assert raw is not None
        assert await clients.writer(target) is not shared, "new calls get a new client"
    finally:
        await clients.close()
