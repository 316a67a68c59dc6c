"""The desired etcd value per key: merge of the Maintenance objects that target it (pure builders)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from kubemaint.client import parse_endpoints
from kubemaint.state import DEFAULT_RETRY_AFTER, OFF, Mode, parse
from kubemaint_operator.model import EtcdOverride, MaintenanceObject, MaintenanceSpec, SpecError, Window
from kubemaint_operator.participants import desired_state
from kubemaint_operator.targets import target_of
from kubemaint_operator.windows import object_state

NOW = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
OWN = parse_endpoints("http://127.0.0.1:2379")


def obj(name: str, namespace: str = "shop", **spec: object) -> MaintenanceObject:
    return MaintenanceObject(namespace=namespace, name=name, spec=MaintenanceSpec(service="users", **spec))  # type: ignore[arg-type]


def test_no_object_means_off() -> None:
    assert desired_state([], NOW) == OFF


def test_one_object_gives_its_state_with_source() -> None:
    state = desired_state([obj("db", reason="upgrade", retry_after=300)], NOW)
    assert state.enabled
    assert state.mode is Mode.FULL
    assert state.reason == "upgrade"
    assert state.retry_after == 300
    assert state.until is None
    assert state.sources == ("shop/db",)


def test_full_wins_over_read_only_and_largest_retry_and_all_sources() -> None:
    state = desired_state(
        [obj("a", mode=Mode.READ_ONLY, retry_after=30), obj("b", mode=Mode.FULL, retry_after=120)], NOW
    )
    assert state.mode is Mode.FULL
    assert state.retry_after == 120
    assert state.sources == ("shop/a", "shop/b")


def test_only_read_only_objects_stay_read_only() -> None:
    state = desired_state([obj("a", mode=Mode.READ_ONLY), obj("b", mode=Mode.READ_ONLY)], NOW)
    assert state.mode is Mode.READ_ONLY


def test_latest_end_wins_and_no_end_beats_any_end() -> None:
    early = Window(end=NOW + timedelta(minutes=10))
    late = Window(end=NOW + timedelta(hours=1))
    assert desired_state([obj("a", window=early), obj("b", window=late)], NOW).until == late.end
    assert desired_state([obj("a", window=early), obj("b")], NOW).until is None


def test_disabled_deleting_and_outside_window_objects_do_not_count() -> None:
    future = Window(start=NOW + timedelta(hours=1), end=NOW + timedelta(hours=2))
    past = Window(start=NOW - timedelta(hours=2), end=NOW - timedelta(hours=1))
    gone = MaintenanceObject(
        namespace="shop", name="gone", spec=MaintenanceSpec(service="users"), deleting=True
    )
    objects = [obj("off", enabled=False), obj("over", window=past), gone]
    assert desired_state(objects, NOW) == OFF
    assert desired_state([*objects, obj("later", window=future), obj("now")], NOW).sources == ("shop/now",)


def test_the_next_window_is_written_ahead_and_reads_the_same_once_open() -> None:
    first = Window(start=NOW + timedelta(hours=1), end=NOW + timedelta(hours=2))
    second = Window(start=NOW + timedelta(hours=3), end=NOW + timedelta(hours=4))
    objects = [obj("a", window=first, reason="one"), obj("b", window=first, reason="two", retry_after=900),
               obj("c", window=second, reason="three")]  # fmt: skip
    ahead = desired_state(objects, NOW)
    assert ahead.enabled
    assert not ahead.active_at(NOW), "written ahead, not in force"
    assert (ahead.start, ahead.until) == (first.start, first.end)
    assert ahead.sources == ("shop/a", "shop/b")
    assert ahead.reason == "one; two"
    assert ahead.retry_after == 900
    assert ahead.active_at(first.start)  # type: ignore[arg-type]
    opened = desired_state(objects, first.start + timedelta(seconds=1))  # type: ignore[operator]
    assert opened == ahead, "the same value once the window opens: no write at the boundary"
    after = desired_state(objects, first.end + timedelta(minutes=1))  # type: ignore[operator]
    assert (after.start, after.sources) == (second.start, ("shop/c",)), "then the next one, ahead"


def test_deleting_one_keeps_the_other() -> None:
    a, b = obj("a", reason="one"), obj("b", reason="two")
    both = desired_state([a, b], NOW)
    assert both.sources == ("shop/a", "shop/b")
    from dataclasses import replace

    left = desired_state([replace(a, deleting=True), b], NOW)
    assert left.enabled
    assert left.sources == ("shop/b",)
    assert left.reason == "two"


def test_state_carries_the_window_end_so_the_service_ends_on_time() -> None:
    window = Window(start=NOW - timedelta(minutes=5), end=NOW + timedelta(minutes=5))
    state = object_state(obj("w", window=window), NOW)
    assert state.until == window.end
    assert state.at(window.end) == OFF


def test_desired_state_round_trips_through_the_shared_encoding() -> None:
    from kubemaint.state import encode

    state = desired_state([obj("a", reason="x", retry_after=5)], NOW)
    assert parse(encode(state)) == state


def test_key_is_prefix_and_service_unless_overridden() -> None:
    assert target_of(obj("a"), "/maintenance", OWN).key == "/maintenance/users"
    assert target_of(obj("a"), "/maintenance/", OWN).key == "/maintenance/users"
    custom = obj("a", etcd=EtcdOverride(endpoints=("http://etcd.shop:2379",), key="/x/y", secret_name="tls"))
    target = target_of(custom, "/maintenance", OWN)
    assert target.key == "/x/y"
    assert target.endpoints == ("http://etcd.shop:2379",)
    assert target.secret == ("shop", "tls")
    assert target.identity != target_of(obj("a"), "/maintenance", OWN).identity


def test_objects_in_two_namespaces_naming_one_key_share_it() -> None:
    assert target_of(obj("a", "ns1"), "/m", OWN).identity == target_of(obj("b", "ns2"), "/m", OWN).identity


@pytest.mark.parametrize(
    "endpoints",
    [
        ("127.0.0.1:2379",),
        ("http://127.0.0.1:2379",),
        ("HTTP://127.0.0.1:2379/",),
        ("127.0.0.1:2379", "http://127.0.0.1:2379"),
    ],
)
def test_the_operators_own_etcd_spelled_otherwise_is_one_merge(endpoints: tuple[str, ...]) -> None:
    named = target_of(obj("b", etcd=EtcdOverride(endpoints=endpoints)), "/maintenance", OWN)
    default = target_of(obj("a"), "/maintenance", OWN)
    assert named == default, "same etcd, same key: the operator's own target, one merge"


def test_endpoint_order_case_and_repeats_do_not_split_a_merge() -> None:
    one = obj("a", etcd=EtcdOverride(endpoints=("http://E1.shop:2379", "e2.shop:2379")))
    two = obj("b", etcd=EtcdOverride(endpoints=("e2.shop:2379", "e1.shop:2379", "e2.shop:2379")))
    assert target_of(one, "/m", OWN).identity == target_of(two, "/m", OWN).identity
    assert target_of(one, "/m", OWN).identity != target_of(obj("c"), "/m", OWN).identity


def test_own_endpoints_with_a_secret_stay_a_target_of_their_own_but_merge() -> None:
    secret = obj("b", etcd=EtcdOverride(endpoints=("127.0.0.1:2379",), secret_name="creds"))
    target = target_of(secret, "/maintenance", OWN)
    assert target.secret == ("shop", "creds"), "the Secret's credentials, not the operator's"
    assert target.identity == target_of(obj("a"), "/maintenance", OWN).identity


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:99999", "http://[abc]:2379"])
def test_an_endpoint_the_client_would_refuse_is_a_spec_error(endpoint: str) -> None:
    with pytest.raises(SpecError, match=r"spec\.etcd\.endpoints"):
        MaintenanceSpec.from_dict({"service": "users", "etcd": {"endpoints": [endpoint]}})


def test_a_key_alone_keeps_the_operators_own_etcd() -> None:
    spec = MaintenanceSpec.from_dict({"service": "users", "etcd": {"key": "/moved/users"}})
    target = target_of(MaintenanceObject(namespace="shop", name="a", spec=spec), "/maintenance", OWN)
    assert (target.endpoints, target.key) == ((), "/moved/users")


def test_one_default_retry_after_for_the_crd_the_operator_and_the_library() -> None:
    path = Path(__file__).parents[2] / "k8s" / "base" / "crd" / "kubemaint.io_maintenances.yaml"
    crd = yaml.safe_load(path.read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert spec["retryAfterSeconds"]["default"] == DEFAULT_RETRY_AFTER
    assert MaintenanceSpec.from_dict({"service": "s"}).retry_after == DEFAULT_RETRY_AFTER


def test_a_status_page_reaches_the_objects_state_and_a_bad_one_is_a_spec_error() -> None:
    page = "https://status.example.com/db"
    spec = MaintenanceSpec.from_dict({"service": "db", "statusPage": page})
    assert object_state(MaintenanceObject("shop", "m", spec), NOW).status_page == page
    with pytest.raises(SpecError, match=r"spec\.statusPage"):
        MaintenanceSpec.from_dict({"service": "db", "statusPage": "javascript:alert(1)"})
