"""The kubemaint command against a real etcd: on, status, off, and clear errors."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from kubemaint.client import EtcdConfig
from kubemaint.manager import Manager, ManagerConfig
from kubemaint.state import Mode, parse
from kubemaint_devstack.etcd import EtcdServer

from tests.support.cli import kubemaint


def test_on_status_off_round_trip(etcd: EtcdServer, unique_key: str) -> None:
    service = unique_key.rsplit("/", 1)[1]
    done = kubemaint(
        "on",
        service,
        "--reason",
        "db upgrade",
        "--for",
        "30m",
        "--retry-after",
        "120",
        ETCD_ENDPOINTS=etcd.endpoint,
    )
    assert done.returncode == 0, done.stderr
    assert f"{unique_key}: maintenance on at revision" in done.stdout
    state = parse(etcd.get(unique_key))
    assert state.enabled
    assert state.mode is Mode.FULL
    assert state.reason == "db upgrade"
    assert state.retry_after == 120
    assert state.until is not None
    assert timedelta(minutes=29) < state.until - datetime.now(UTC) <= timedelta(minutes=30)

    status = kubemaint("status", service, "--json", "--endpoints", etcd.endpoint)
    assert status.returncode == 0, status.stderr
    document = json.loads(status.stdout)
    assert document["maintenance"] is True
    assert document["reason"] == "db upgrade"
    assert document["revision"] == etcd.revision()

    done = kubemaint("off", service, "--endpoints", etcd.endpoint)
    assert done.returncode == 0, done.stderr
    assert not parse(etcd.get(unique_key)).enabled
    text = kubemaint("status", service, ETCD_ENDPOINTS=etcd.endpoint)
    assert text.returncode == 0
    assert f"{unique_key}: maintenance off" in text.stdout
    assert "replicas: 0 live" in text.stdout


def test_read_only_until_and_a_custom_prefix(etcd: EtcdServer, unique_key: str) -> None:
    until = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    prefix, service = unique_key.rsplit("/", 1)
    stamp = until.isoformat().replace("+00:00", "Z")
    done = kubemaint(
        "on", service, "--read-only", "--until", stamp, "--prefix", prefix, ETCD_ENDPOINTS=etcd.endpoint
    )
    assert done.returncode == 0, done.stderr
    state = parse(etcd.get(unique_key))
    assert state.mode is Mode.READ_ONLY
    assert state.until == until


async def test_status_lists_live_replicas_and_their_acks(etcd: EtcdServer, unique_key: str) -> None:
    service = unique_key.rsplit("/", 1)[1]
    config = ManagerConfig(key=unique_key, etcd=EtcdConfig.from_endpoints(etcd.endpoint), instance="pod-a")
    revision = etcd.put(unique_key, "true")
    async with Manager(config):
        for _ in range(100):  # the CLI runs in a thread: the manager's loop must keep running
            status = await asyncio.to_thread(
                kubemaint, "status", service, "--json", ETCD_ENDPOINTS=etcd.endpoint
            )
            document = json.loads(status.stdout)
            if document["replicas"]["acknowledged"] == 1:
                break
        assert document["replicas"] == {"live": 1, "acknowledged": 1}
        assert document["acks"][0]["instance"] == "pod-a"
        assert document["acks"][0]["revision"] == revision
        text = (await asyncio.to_thread(kubemaint, "status", service, ETCD_ENDPOINTS=etcd.endpoint)).stdout
        assert "pod-a: on, revision" in text
        assert "(current)" in text


def test_a_malformed_value_makes_status_fail(etcd: EtcdServer, unique_key: str) -> None:
    etcd.put(unique_key, "{nope")
    status = kubemaint("status", unique_key.rsplit("/", 1)[1], ETCD_ENDPOINTS=etcd.endpoint)
    assert status.returncode == 1
    assert "MALFORMED" in status.stdout


def test_unreachable_etcd_is_one_clear_line_and_exit_1() -> None:
    done = kubemaint("off", "svc", "--endpoints", "127.0.0.1:9", "--timeout", "0.5")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0] == "kubemaint: error: cannot reach etcd at 127.0.0.1:9 (--endpoints or ETCD_ENDPOINTS)"


def test_bad_usage_exits_2_with_the_reason() -> None:
    done = kubemaint("on", "svc", "--for", "soon", "--endpoints", "127.0.0.1:9")
    assert done.returncode == 2
    assert "not a duration" in done.stderr
    done = kubemaint("on", "svc", "--endpoints", "ftp://nowhere")
    assert done.returncode == 2
    assert "etcd endpoint" in done.stderr


def test_status_counts_an_ack_only_once_the_replica_has_drained(etcd: EtcdServer, unique_key: str) -> None:
    """The CLI's "acknowledged" is the operator's: same revision or later, same state, and drained."""
    from kubemaint.acks import Ack, ack_key, encode_ack
    from kubemaint.state import MaintenanceState, encode

    service = unique_key.rsplit("/", 1)[1]
    revision = etcd.put(unique_key, encode(MaintenanceState(enabled=True, reason="drain")))
    at = datetime.now(UTC)
    etcd.put(
        ack_key(unique_key, "busy"), encode_ack(Ack("busy", revision, True, 2, at, "full", drained=False))
    )
    etcd.put(
        ack_key(unique_key, "done"), encode_ack(Ack("done", revision, True, 0, at, "full", drained=True))
    )
    etcd.put(ack_key(unique_key, "old"), encode_ack(Ack("old", revision - 1, False, 0, at)))
    document = json.loads(kubemaint("status", service, "--json", ETCD_ENDPOINTS=etcd.endpoint).stdout)
    assert document["revision"] == revision
    assert document["replicas"] == {"live": 3, "acknowledged": 1}
    assert {a["instance"]: a["current"] for a in document["acks"]} == {
        "busy": False,
        "done": True,
        "old": False,
    }
    text = kubemaint("status", service, ETCD_ENDPOINTS=etcd.endpoint).stdout
    assert "busy: on, revision" in text
    assert "(draining)" in text


def test_a_status_page_is_written_shown_and_checked(etcd: EtcdServer, unique_key: str) -> None:
    service = unique_key.rsplit("/", 1)[1]
    page = "https://status.example.com/db"
    done = kubemaint("on", service, "--status-page", page, ETCD_ENDPOINTS=etcd.endpoint)
    assert done.returncode == 0, done.stderr
    assert parse(etcd.get(unique_key)).status_page == page
    status = kubemaint("status", service, "--endpoints", etcd.endpoint)
    assert f"status page {page}" in status.stdout
    assert (
        json.loads(kubemaint("status", service, "--json", "--endpoints", etcd.endpoint).stdout)["statusPage"]
        == page
    )
    before = etcd.get(unique_key)
    refused = kubemaint("on", service, "--status-page", "javascript:alert(1)", ETCD_ENDPOINTS=etcd.endpoint)
    assert refused.returncode == 2
    assert "--status-page" in refused.stderr
    assert etcd.get(unique_key) == before, "a refused value writes nothing"


def test_paths_are_written_shown_and_checked(etcd: EtcdServer, unique_key: str) -> None:
    service = unique_key.rsplit("/", 1)[1]
    done = kubemaint("on", service, "--path", "/users/*", "--path", "/orders", ETCD_ENDPOINTS=etcd.endpoint)
    assert done.returncode == 0, done.stderr
    assert parse(etcd.get(unique_key)).paths == ("/orders", "/users/*")
    assert "paths /orders, /users/*" in kubemaint("status", service, "--endpoints", etcd.endpoint).stdout
    refused = kubemaint("on", service, "--path", "users", ETCD_ENDPOINTS=etcd.endpoint)
    assert refused.returncode == 2
    assert "--path" in refused.stderr


def test_at_writes_a_start_that_the_value_itself_waits_for(etcd: EtcdServer, unique_key: str) -> None:
    service = unique_key.rsplit("/", 1)[1]
    at = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    stamp = at.isoformat().replace("+00:00", "Z")
    done = kubemaint("on", service, "--at", stamp, "--for", "30m", ETCD_ENDPOINTS=etcd.endpoint)
    assert done.returncode == 0, done.stderr
    state = parse(etcd.get(unique_key))
    assert (state.start, state.until) == (at, at + timedelta(minutes=30))
    assert not state.active_at(datetime.now(UTC))
    assert f"scheduled from {stamp}" in kubemaint("status", service, "--endpoints", etcd.endpoint).stdout
