"""The stand-in's pure parts: the responder app's answers, its routes from the slices, and the slice the
operator builds (when, which port, what it says)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubemaint.responder import MaintenanceResponder
from kubemaint.settings import ConfigurationError
from kubemaint.state import MaintenanceState, Mode, encode
from kubemaint_operator.gates import PodView
from kubemaint_operator.model import MaintenanceObject
from kubemaint_operator.responder import ResponderSettings, Routes
from kubemaint_operator.settings import load_settings
from kubemaint_operator.stand_in import (
    Comeback,
    build_slice,
    every_pod_gated,
    free_port,
    ready_addresses,
    service_pods,
)

from tests.support.asgi import call

ON = MaintenanceState(
    enabled=True, reason="disk swap", retry_after=90, status_page="https://status.example.com/"
)
HEALTH = 8081


def _app(routes: dict[int, MaintenanceState], ready: bool = True) -> MaintenanceResponder:
    return MaintenanceResponder(routes, health_port=HEALTH, ready=lambda: ready)


def _on_port(port: int) -> dict[str, Any]:
    return {"server": ("10.0.0.5", port)}


async def test_every_request_on_a_routed_port_gets_that_services_503() -> None:
    app = _app({20000: ON})
    for method, path in [("GET", "/users/7"), ("POST", "/users"), ("DELETE", "/"), ("GET", "/healthz")]:
        status, headers, body = await call(app, method, path, scope=_on_port(20000))
        assert status == 503
        assert headers[b"retry-after"] == b"90"
        assert headers[b"x-maintenance"] == b"on"
        assert headers[b"link"] == b'<https://status.example.com/>; rel="help"'
        assert json.loads(body)["reason"] == "disk swap"


async def test_browsers_get_the_page_and_read_only_is_answered_as_full() -> None:
    app = _app({20000: MaintenanceState(enabled=True, mode=Mode.READ_ONLY, reason="<b>x</b>")})
    status, headers, body = await call(app, "GET", "/", [(b"accept", b"text/html")], scope=_on_port(20000))
    assert status == 503
    assert headers[b"content-type"].startswith(b"text/html")
    assert b"&lt;b&gt;x&lt;/b&gt;" in body
    assert headers[b"x-maintenance"] == b"on", "every replica is out: reads cannot be served either"


async def test_a_port_without_a_value_in_force_says_coming_back() -> None:
    ended = MaintenanceState(enabled=True, until=datetime.now(UTC) - timedelta(seconds=1))
    app = _app({20000: ended, 20001: MaintenanceState()})
    for port in (20000, 20001, 20002):
        status, headers, _ = await call(app, "GET", "/", scope=_on_port(port))
        assert (status, headers[b"retry-after"]) == (503, b"1")


@pytest.mark.parametrize(
    ("path", "ready", "status"),
    [("/healthz", False, 200), ("/readyz", False, 503), ("/readyz", True, 200), ("/users", True, 404)],
)
async def test_the_health_port_answers_the_probes_only(path: str, ready: bool, status: int) -> None:
    assert (await call(_app({}, ready), "GET", path, scope=_on_port(HEALTH)))[0] == status


def _slice(uid: str, port: int, value: str | None) -> dict[str, Any]:
    annotations = {} if value is None else {"kubemaint.io/value": value}
    return {"metadata": {"uid": uid, "namespace": "shop", "name": uid, "annotations": annotations},
            "ports": [{"name": "http", "port": port}]}  # fmt: skip


def test_routes_follow_the_slices_and_survive_a_bad_value() -> None:
    routes = Routes()
    assert not routes.loaded
    routes.replace_all([_slice("a", 20000, encode(ON)), _slice("b", 20001, "{not json")])
    assert routes.loaded
    assert routes.table[20000].reason == "disk swap"
    assert routes.table[20001].enabled, "an unusable value still answers a maintenance 503"
    routes.apply("MODIFIED", _slice("a", 20000, encode(MaintenanceState())))
    assert not routes.table[20000].enabled
    routes.apply("DELETED", _slice("b", 20001, None))
    assert set(routes.table) == {20000}


def _pod(name: str, serving: bool | None, app: str = "web", ready: bool = False) -> PodView:
    return PodView("shop", name, (("app", app),), serving, ready)


SERVICE = {
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {
        "selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80}, {"port": 53, "protocol": "UDP"}],
    },
}


def test_the_stand_in_is_wanted_only_when_every_pod_of_the_service_is_gated() -> None:
    pods = [_pod("a", False), _pod("b", False), _pod("other", True, app="db")]
    chosen = service_pods(SERVICE, pods)
    assert [p.name for p in chosen] == ["a", "b"]
    assert every_pod_gated(chosen)
    assert not every_pod_gated(service_pods(SERVICE, [*pods, _pod("c", True)]))
    assert not every_pod_gated([])
    assert service_pods({"metadata": SERVICE["metadata"], "spec": {}}, pods) == [], "no selector: hand-made"


def test_ports_are_given_lowest_first_and_run_out() -> None:
    assert free_port([20000, 20002], range(20000, 20004)) == 20001
    assert free_port([20000, 20001], range(20000, 20002)) is None


def test_responder_addresses_are_the_ready_ones() -> None:
    slices = [{"endpoints": [{"addresses": ["10.0.0.2"], "conditions": {"ready": True}},
                             {"addresses": ["10.0.0.3"], "conditions": {"ready": False}},
                             {"addresses": ["10.0.0.1"]}]}]  # fmt: skip
    assert ready_addresses(slices) == ("10.0.0.1", "10.0.0.2")


def _own(**ready: bool) -> list[dict[str, Any]]:
    """One slice of the Service's own: address ``a`` -> whether it is ready."""
    return [{"endpoints": [{"addresses": [a], "conditions": {"ready": r}} for a, r in ready.items()]}]


def test_an_address_is_back_once_listed_ready_after_not_ready() -> None:
    comeback = Comeback(settle=5)
    assert None is comeback.back(_own(a=False, b=False), now=0)
    assert None is comeback.back(_own(a=False, b=False), now=0.2)
    assert comeback.back(_own(a=True, b=False), now=0.4) == "a ready again"


def test_an_address_ready_all_along_counts_only_after_the_settle_time() -> None:
    """After a short maintenance the kubelet may not have answered the closed gate yet: its Ready False
    can still come, so the stand-in waits (the race the real node's 20 flips under load found)."""
    comeback = Comeback(settle=5)
    assert None is comeback.back(_own(a=True, b=False), now=0)  # b was seen not ready, but is not back
    assert None is comeback.back(_own(a=True, b=False), now=4.9)
    assert comeback.back(_own(a=True, b=False), now=5) == "a ready for 5 s"


def test_the_kubelets_late_ready_false_restarts_the_wait_and_then_ends_it() -> None:
    comeback = Comeback(settle=5)
    assert None is comeback.back(_own(a=True), now=0)  # the gate opened before the kubelet saw it closed
    assert None is comeback.back(_own(a=False), now=1)  # its answer to the closed gate, late
    assert None is comeback.back([], now=1.2)  # a look with no slice at all: nothing is ready
    assert comeback.back(_own(a=True), now=1.4) == "a ready again"  # its answer to the opened gate


def test_an_address_that_leaves_the_ready_set_starts_its_settle_time_again() -> None:
    comeback = Comeback(settle=5)
    assert None is comeback.back(_own(a=True), now=0)
    assert None is comeback.back(_own(), now=3)  # gone from the slices (never listed not ready)
    assert None is comeback.back(_own(a=True), now=4)
    assert None is comeback.back(_own(a=True), now=8.9)
    assert comeback.back(_own(a=True), now=9) == "a ready for 5 s"


def test_the_slice_names_the_service_its_owners_and_the_value() -> None:
    owner = MaintenanceObject.from_body({
        "metadata": {"name": "m", "namespace": "shop", "uid": "u-1"}, "spec": {"service": "web"},
    })  # fmt: skip
    body = build_slice(SERVICE, 20003, ["10.0.0.9"], "/maintenance/web", encode(ON), [owner])
    assert body["metadata"]["name"] == "web-kubemaint"
    assert body["metadata"]["labels"] == {
        "kubernetes.io/service-name": "web", "endpointslice.kubernetes.io/managed-by": "kubemaint.io",
    }  # fmt: skip
    assert body["metadata"]["ownerReferences"] == [
        {"apiVersion": "kubemaint.io/v1alpha1", "kind": "Maintenance", "name": "m", "uid": "u-1"}
    ]
    assert body["ports"] == [{"name": "http", "port": 20003, "protocol": "TCP"}], "UDP cannot be answered"
    assert body["endpoints"] == [{"addresses": ["10.0.0.9"], "conditions": {"ready": True}}]
    assert json.loads(body["metadata"]["annotations"]["kubemaint.io/value"])["reason"] == "disk swap"


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({"RESPONDER_PORTS": "ports"}, "RESPONDER_PORTS"),
        ({"RESPONDER_PORTS": "9-20"}, "RESPONDER_PORTS"),
        ({"RESPONDER_PORTS": "20000-30000"}, "RESPONDER_PORTS"),
        ({"RESPONDER_HEALTH_PORT": "20001"}, "RESPONDER_HEALTH_PORT"),
        ({"MAINTENANCE_PAGE_FILE": "/nonexistent/page.html"}, "MAINTENANCE_PAGE_FILE"),
    ],
)
def test_bad_responder_settings_name_the_variable(environ: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigurationError, match=names):
        ResponderSettings.load(environ)


@pytest.mark.parametrize("value", ["shop", "shop/", "/web", "Shop/web", "shop/web/x"])
def test_the_operator_refuses_a_responder_service_that_is_not_namespace_name(value: str) -> None:
    with pytest.raises(ConfigurationError, match="RESPONDER_SERVICE"):
        load_settings({"RESPONDER_SERVICE": value})
    assert load_settings({"RESPONDER_SERVICE": "kubemaint-system/responder"}).responder_port_range == range(
        20000, 20064
    )
