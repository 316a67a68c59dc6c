"""etcd over TLS: the manager, source and writer with a CA only, with client certificates when the server
demands them, a clear error (not a hang) with the wrong CA, and the ``kubemaint`` command over https."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubemaint.client import EtcdConfig, describe_error
from kubemaint.manager import Manager, ManagerConfig
from kubemaint.state import MaintenanceState, parse
from kubemaint.store import StateStore
from kubemaint_devstack.etcd import EtcdServer
from kubemaint_devstack.pki import Pki, ensure_etcd_pki

from tests.support.cli import kubemaint

TLS_FAILURE = r"(?i)handshake|certificate|TSI_|SSL"
"""What grpc says when TLS fails (wrong CA: "Tls handshake failed ... certificate signature failure";
missing client certificate: the server's alert ends the stream, "Unwrap failed (TSI_DATA_CORRUPTED)")."""


@pytest.fixture(scope="module")
def etcd_tls_server_only(devstack_dir: Path) -> Iterator[EtcdServer]:
    """etcd serving TLS without asking for client certificates (the CA alone is enough)."""
    with EtcdServer(devstack_dir / "etcd-tls-server-only", name="tlsonly", tls=True) as server:
        yield server


@pytest.fixture(scope="module")
def foreign_pki(devstack_dir: Path) -> Pki:
    """A CA (and a client certificate) that no test server trusts."""
    return ensure_etcd_pki(devstack_dir / "foreign-pki")


def with_client_cert(server: EtcdServer, **options: object) -> EtcdConfig:
    return EtcdConfig.from_endpoints(
        server.endpoint,
        ca_file=str(server.ca_file),
        cert_file=str(server.client_cert_file),
        key_file=str(server.client_key_file),
        **options,
    )


async def follow_and_acknowledge(config: EtcdConfig, server: EtcdServer, key: str) -> None:
    """A manager follows ``key`` (first read, then the watch) and acknowledges; the writer reads back."""
    before = server.put(key, json.dumps({"enabled": True, "reason": "set before start"}))
    manager = Manager(ManagerConfig(key=key, etcd=config, instance="tls-a", ack_ttl=3, start_timeout=10))
    await manager.start()
    try:
        assert manager.connected
        assert manager.state.reason == "set before start"
        assert manager.revision == before
        async with StateStore.open(config) as writer:
            revision = await writer.put_state(key, MaintenanceState(enabled=True, reason="over tls"))
            async with asyncio.timeout(10):
                while not (manager.state.reason == "over tls" and manager.revision == revision):
                    await asyncio.sleep(0.02)
                while not [a for a in await writer.list_acks(key) if a.revision == revision]:
                    await asyncio.sleep(0.05)
            off = server.put(key, "off")  # through etcdctl: the watch delivers it
            async with asyncio.timeout(10):
                while manager.state.enabled or manager.revision != off:
                    await asyncio.sleep(0.02)
            state, read_revision = await writer.get_state(key)
            assert not state.enabled
            assert read_revision == off
    finally:
        await manager.stop()


async def test_the_ca_alone_is_enough_when_the_server_asks_no_client_certificate(
    etcd_tls_server_only: EtcdServer, unique_key: str
) -> None:
    server = etcd_tls_server_only
    assert server.endpoint.startswith("https://")
    config = EtcdConfig.from_endpoints(server.endpoint, ca_file=str(server.ca_file))
    await follow_and_acknowledge(config, server, unique_key)


async def test_client_certificates_when_the_server_demands_them(
    etcd_tls: EtcdServer, unique_key: str
) -> None:
    ca_only = EtcdConfig.from_endpoints(etcd_tls.endpoint, ca_file=str(etcd_tls.ca_file), timeout=2.0)
    with pytest.raises(Exception, match=TLS_FAILURE) as refused:
        async with asyncio.timeout(10), StateStore.open(ca_only) as writer:
            await writer.get_raw(unique_key)
    assert not isinstance(refused.value, TimeoutError)
    await follow_and_acknowledge(with_client_cert(etcd_tls), etcd_tls, unique_key)


async def test_a_client_certificate_from_another_ca_is_refused(
    etcd_tls: EtcdServer, foreign_pki: Pki, unique_key: str
) -> None:
    config = EtcdConfig.from_endpoints(
        etcd_tls.endpoint,
        ca_file=str(etcd_tls.ca_file),
        cert_file=str(foreign_pki.crt("client")),
        key_file=str(foreign_pki.key("client")),
        timeout=2.0,
    )
    with pytest.raises(Exception, match=TLS_FAILURE) as refused:
        async with asyncio.timeout(10), StateStore.open(config) as writer:
            await writer.get_raw(unique_key)
    assert not isinstance(refused.value, TimeoutError)


async def test_a_wrong_ca_is_a_clear_error_within_the_timeout(
    etcd_tls: EtcdServer, foreign_pki: Pki, unique_key: str
) -> None:
    config = EtcdConfig.from_endpoints(
        etcd_tls.endpoint,
        ca_file=str(foreign_pki.ca_file),
        cert_file=str(etcd_tls.client_cert_file),
        key_file=str(etcd_tls.client_key_file),
        timeout=2.0,
    )
    # The writer: an exception naming the failed handshake, well before the outer bound.
    with pytest.raises(Exception, match=r"(?i)handshake") as refused:
        async with asyncio.timeout(config.timeout * 3), StateStore.open(config) as writer:
            await writer.get_raw(unique_key)
    assert not isinstance(refused.value, TimeoutError)
    assert "handshake" in describe_error(refused.value).lower()

    # The manager: start() returns after start_timeout, disconnected, with the reason in its stats.
    manager = Manager(
        ManagerConfig(key=unique_key, etcd=config, instance="tls-wrong-ca", start_timeout=config.timeout)
    )
    async with asyncio.timeout(config.timeout * 3):
        await manager.start()
    try:
        assert not manager.connected
        assert manager.source != "etcd"
        etcd_stats = manager.stats()["etcd"]
        assert isinstance(etcd_stats, dict)
        assert "handshake" in str(etcd_stats["lastError"]).lower()
    finally:
        await manager.stop()


def test_the_cli_over_tls_with_flags_and_with_the_environment(etcd_tls: EtcdServer, unique_key: str) -> None:
    service = unique_key.rsplit("/", 1)[1]
    flags = (
        f"--cacert={etcd_tls.ca_file}",
        f"--cert={etcd_tls.client_cert_file}",
        f"--key-file={etcd_tls.client_key_file}",
    )
    done = kubemaint("on", service, "--reason", "tls flags", "--endpoints", etcd_tls.endpoint, *flags)
    assert done.returncode == 0, done.stderr
    assert parse(etcd_tls.get(unique_key)).reason == "tls flags"

    status = kubemaint(
        "status",
        service,
        "--json",
        ETCD_ENDPOINTS=etcd_tls.endpoint,
        ETCD_CA_FILE=str(etcd_tls.ca_file),
        ETCD_CERT_FILE=str(etcd_tls.client_cert_file),
        ETCD_KEY_FILE=str(etcd_tls.client_key_file),
    )
    assert status.returncode == 0, status.stderr
    document = json.loads(status.stdout)
    assert document["maintenance"] is True
    assert document["reason"] == "tls flags"
    assert document["revision"] == etcd_tls.revision()

    text = kubemaint("status", service, "--endpoints", etcd_tls.endpoint, *flags)
    assert text.returncode == 0, text.stderr
    assert f"{unique_key}: maintenance on at revision" in text.stdout


def test_the_cli_without_a_ca_or_with_the_wrong_one_says_so(etcd_tls: EtcdServer, foreign_pki: Pki) -> None:
    no_ca = kubemaint("status", "svc", "--endpoints", etcd_tls.endpoint)
    assert no_ca.returncode == 2
    assert "CA file" in no_ca.stderr

    etcdctl_habit = kubemaint(  # etcdctl's --key is the maintenance key here: the client key is missing
        "status",
        "svc",
        "--endpoints",
        etcd_tls.endpoint,
        f"--cacert={etcd_tls.ca_file}",
        f"--cert={etcd_tls.client_cert_file}",
        f"--key={etcd_tls.client_key_file}",
    )
    assert etcdctl_habit.returncode == 2
    assert "--key-file" in etcdctl_habit.stderr

    wrong = kubemaint(
        "status",
        "svc",
        "--timeout=2",
        "--endpoints",
        etcd_tls.endpoint,
        f"--cacert={foreign_pki.ca_file}",
        f"--cert={etcd_tls.client_cert_file}",
        f"--key-file={etcd_tls.client_key_file}",
    )
    assert wrong.returncode == 1
    # grpc's own C-core may log above it; the command's verdict is the last line.
    last = wrong.stderr.strip().splitlines()[-1]
    assert last.startswith(f"kubemaint: error: cannot reach etcd at {etcd_tls.endpoint} over TLS"), last
    assert "handshake" in last.lower()
