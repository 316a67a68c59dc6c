"""Pure pieces of the library: endpoint parsing, the acknowledgement format, CLI durations, InFlight."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from kubemaint.acks import Ack, ack_key, acks_prefix, decode_ack, encode_ack
from kubemaint.cli import UsageError, build_parser, parse_duration
from kubemaint.client import EtcdConfig, parse_endpoint, parse_endpoints, resolve_endpoints
from kubemaint.inflight import InFlight
from kubemaint.state import MaintenanceState, Mode, StateParseError, key_for

AT = datetime(2026, 12, 1, 2, 0, 3, tzinfo=UTC)


def test_endpoints_accept_urls_and_host_port_pairs() -> None:
    config = EtcdConfig.from_endpoints(" http://127.0.0.1:2379, etcd-1.shop:2379 ,,")
    assert config.endpoints == ("127.0.0.1:2379", "etcd-1.shop:2379")


def test_endpoints_are_normalised_scheme_host_case_and_repeats() -> None:
    parsed = parse_endpoints(["HTTP://Etcd.Shop:2379/", "etcd.shop:2379,[::1]:2379", "https://b:1"])
    assert [str(e) for e in parsed] == ["http://etcd.shop:2379", "http://[::1]:2379", "https://b:1"]
    assert parse_endpoint("127.0.0.1:2379") == parse_endpoint("http://127.0.0.1:2379")


@pytest.mark.parametrize(
    "text",
    ["", " , ", "ftp://a:1", "http://a", "justahost", "http://127.0.0.1:99999", "a:0", "a:x", "http://a:1/p",
     "http://u:p@a:1", "a b:1", ":2379"],
)  # fmt: skip
def test_bad_endpoints_are_refused_with_the_value(text: str) -> None:
    with pytest.raises(ValueError, match="etcd endpoint"):
        EtcdConfig.from_endpoints(text)


def test_https_needs_a_ca_file() -> None:
    with pytest.raises(ValueError, match="CA"):
        EtcdConfig.from_endpoints("https://a:2379")
    assert EtcdConfig.from_endpoints("https://a:2379", ca_file="/ca.pem").ca_file == "/ca.pem"


def test_the_password_never_shows_in_repr() -> None:
    config = EtcdConfig(username="root", password="hunter2")
    assert "hunter2" not in repr(config)


def test_client_certificates_come_in_pairs_with_a_ca() -> None:
    with pytest.raises(ValueError, match="both"):
        EtcdConfig(cert_file="/c.pem", ca_file="/ca.pem")
    with pytest.raises(ValueError, match="ca_file"):
        EtcdConfig(cert_file="/c.pem", key_file="/k.pem")


def test_ack_keys_live_under_the_maintenance_key() -> None:
    assert acks_prefix("/maintenance/users") == "/maintenance/users/acks/"
    assert ack_key("/maintenance/users/", "pod-1") == "/maintenance/users/acks/pod-1"
    with pytest.raises(ValueError, match="instance"):
        ack_key("/maintenance/users", "a/b")


def test_an_ack_round_trips_through_its_json() -> None:
    state = MaintenanceState(enabled=True, mode=Mode.READ_ONLY)
    ack = Ack.of("pod-1", 42, state, in_flight=0, drained=True, source="etcd", at=AT)
    raw = encode_ack(ack)
    assert '"revision":42' in raw
    assert '"inFlight":0' in raw
    assert '"maintenance":true' in raw
    assert decode_ack("pod-1", raw) == ack


def test_an_ack_of_off_has_no_mode() -> None:
    ack = Ack.of("p", 7, MaintenanceState(), in_flight=3, drained=False, source="last-known", at=AT)
    assert ack.mode is None
    assert decode_ack("p", encode_ack(ack)).in_flight == 3


@pytest.mark.parametrize(
    "raw", ["not json", "[]", '{"revision": "1", "maintenance": true}', '{"revision": 1}']
)
def test_a_malformed_ack_is_refused(raw: str) -> None:
    with pytest.raises(StateParseError):
        decode_ack("p", raw)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("1d", 86400), (" 5M ", 300)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "30", "m", "1x", "0s", "-5m", "1h 30m", "1.5h"])
def test_bad_durations_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


def test_for_and_until_exclude_each_other() -> None:
    parser = build_parser()
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["on", "svc", "--for", "5m", "--until", "2026-12-01T03:00:00Z"])
    assert exit_info.value.code == 2
    args = parser.parse_args(["on", "svc", "--read-only", "--retry-after", "30", "--reason", "db"])
    assert (args.read_only, args.retry_after, args.reason) == (True, 30, "db")


async def test_in_flight_waits_for_writes_only_when_asked() -> None:
    in_flight = InFlight()
    with in_flight.track(write=False):
        in_flight.enter(write=True)
        assert (in_flight.count, in_flight.writes) == (2, 1)
        assert not await in_flight.wait_idle(0.05, writes_only=True)
        waiter = asyncio.create_task(in_flight.wait_idle(5.0, writes_only=True))
        await asyncio.sleep(0.01)
        in_flight.exit(write=True)
        assert await waiter
        assert not await in_flight.wait_idle(0.05)
    assert await in_flight.wait_idle(0.05)
    assert (in_flight.count, in_flight.writes) == (0, 0)


@pytest.mark.parametrize(
    ("ack", "revision", "maintenance", "expected"),
    [
        (Ack("a", 7, maintenance=True, in_flight=0, drained=True), 7, True, True),
        (Ack("a", 9, maintenance=True, in_flight=0, drained=True), 7, True, True),  # a later value applied
        (Ack("a", 6, maintenance=True, in_flight=0, drained=True), 7, True, False),  # not yet this value
        (Ack("a", 7, maintenance=True, in_flight=2, drained=False), 7, True, False),  # still draining
        (Ack("a", 7, maintenance=False, in_flight=0, drained=True), 7, True, False),  # not in maintenance
        (Ack("a", 7, maintenance=False, in_flight=3, drained=True), 7, False, True),  # off needs no drain
        (Ack("a", 7, maintenance=True, in_flight=0, drained=True), 7, False, False),
    ],
)
def test_acknowledged_has_one_meaning(ack: Ack, revision: int, maintenance: bool, expected: bool) -> None:
    from kubemaint.acks import acknowledges

    assert acknowledges(ack, revision, maintenance=maintenance) is expected


async def test_host_names_are_resolved_to_the_ipv4_addresses_that_grpc_takes() -> None:
    # etcd3aio gives gRPC an ipv4: target, which refuses a name such as `kubemaint-etcd` (found on the
    # real node: neither the service nor the operator could reach an etcd named by its Service).
    # `localhost` resolves from /etc/hosts; no address here is contacted.
    addresses, name = await resolve_endpoints(
        ["localhost:2379", "127.0.0.1:2379", "http://LocalHost:2379", "10.0.0.1:1"]
    )
    assert addresses == ["127.0.0.1:2379", "10.0.0.1:1"]
    assert name == "localhost", "the name a TLS certificate is checked against"
    assert await resolve_endpoints(["127.0.0.1:2379"]) == (["127.0.0.1:2379"], None)
    with pytest.raises(ValueError, match="IPv4 addresses only"):
        await resolve_endpoints(["[::1]:2379"])


def test_the_key_of_a_service_is_its_prefix_and_its_name_with_one_slash() -> None:
    assert key_for("users-service") == "/maintenance/users-service"
    assert key_for("users-service", "/ops/maint/") == key_for("users-service", "/ops/maint")
    assert key_for("a", "/ops/maint/") == "/ops/maint/a"


def test_the_state_format_imports_without_etcd3aio_or_grpc() -> None:
    # A None in sys.modules makes an import fail: as if etcd3aio and grpc were not installed.
    code = (
        "import sys\n"
        "sys.modules['etcd3aio'] = sys.modules['grpc'] = None\n"
        "import kubemaint.state, kubemaint.policy, kubemaint.acks, kubemaint.admission\n"
        "from kubemaint import key_for, parse\n"
        "assert key_for('s') == '/maintenance/s' and parse(b'on').enabled\n"
        "try:\n"
        "    from kubemaint import Manager\n"
        "except ImportError:\n"
        "    print('etcd side needs etcd3aio')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "etcd side needs etcd3aio"


def test_every_main_name_of_the_package_resolves() -> None:
    import kubemaint

    for name in kubemaint.__all__:
        assert getattr(kubemaint, name).__module__.startswith("kubemaint."), name
    with pytest.raises(AttributeError, match="no attribute 'EtcdWriter'"):
        kubemaint.EtcdWriter  # noqa: B018 - the old name is gone
