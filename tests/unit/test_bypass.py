"""Bypasses for the people doing the maintenance: client networks (with trusted proxies) and the signed
browser cookie, as pure decisions and through the middleware."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubemaint.asgi import MaintenanceMiddleware
from kubemaint.state import MaintenanceState

from kubemaint import admission
from tests.support.asgi import StateView, app_ok, call

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
ON = MaintenanceState(enabled=True, reason="upgrade")
SECRET = b"a-bypass-secret-of-some-length"
PROXIES = admission.parse_networks(["10.0.0.0/8"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("192.0.2.7", None, "192.0.2.7"),
        ("192.0.2.7", "203.0.113.9", "192.0.2.7"),  # an untrusted peer's header is ignored
        ("10.1.2.3", "203.0.113.9", "203.0.113.9"),  # added by a trusted proxy
        ("10.1.2.3", "198.51.100.1, 203.0.113.9, 10.4.4.4", "203.0.113.9"),  # right-most untrusted hop
        ("10.1.2.3", "10.9.9.9", "10.9.9.9"),  # only proxies: the left-most one
        ("10.1.2.3", "not-an-ip", None),
        ("unix-socket", None, None),
        ("2001:db8::1", None, "2001:db8::1"),
    ],
)
def test_the_client_is_the_peer_or_what_a_trusted_proxy_added(
    peer: str, forwarded: str | None, client: str | None
) -> None:
    found = admission.client_address(peer, forwarded, PROXIES)
    assert (str(found) if found else None) == client


def test_networks_are_parsed_and_a_bad_one_is_named() -> None:
    networks = admission.parse_networks([" 192.0.2.0/24", "2001:db8::/32", "198.51.100.7"])
    assert admission.in_networks(admission.client_address("192.0.2.200", None, ()), networks)
    assert admission.in_networks(admission.client_address("198.51.100.7", None, ()), networks)
    assert not admission.in_networks(admission.client_address("198.51.100.8", None, ()), networks)
    assert not admission.in_networks(None, networks)
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300/8'"):
        admission.parse_networks(["10.0.0.300/8"])


def test_a_cookie_is_valid_until_it_expires_and_only_with_its_secret() -> None:
    later = int((NOW + timedelta(hours=1)).timestamp())
    cookie = admission.bypass_cookie(SECRET, later)
    assert admission.valid_bypass_cookie(SECRET, cookie, NOW)
    assert not admission.valid_bypass_cookie(SECRET, cookie, NOW + timedelta(hours=2)), "expired"
    assert not admission.valid_bypass_cookie(b"another-secret-entirely", cookie, NOW)
    forged = f"{later + 86400}.{cookie.split('.', 1)[1]}"
    assert not admission.valid_bypass_cookie(SECRET, forged, NOW), "a later expiry breaks the signature"
    assert not admission.valid_bypass_cookie(SECRET, "garbage", NOW)
    assert admission.decide(
        ON, method="GET", path="/users", now=NOW, bypass_secret=SECRET, bypass_cookie_value=cookie
    ).bypassed
    assert not admission.decide(ON, method="GET", path="/users", now=NOW, bypass_cookie_value=cookie).admit, (
        "no secret"
    )


async def test_bypass_networks_serve_their_clients_and_only_through_trusted_proxies() -> None:
    middleware = MaintenanceMiddleware(
        app_ok, StateView(ON), bypass_networks=["203.0.113.0/24"], trusted_proxies=["10.0.0.0/8"]
    )
    direct = {"client": ("203.0.113.5", 50000)}
    assert (await call(middleware, "GET", "/users", scope=direct))[0] == 200
    proxied = [(b"x-forwarded-for", b"203.0.113.5")]
    assert (await call(middleware, "GET", "/users", proxied, scope={"client": ("10.0.0.1", 1)}))[0] == 200
    spoofed = {"client": ("192.0.2.1", 1)}
    assert (await call(middleware, "GET", "/users", proxied, scope=spoofed))[0] == 503, "untrusted peer"


async def test_visiting_the_bypass_path_sets_the_cookie_that_then_passes() -> None:
    middleware = MaintenanceMiddleware(
        app_ok, StateView(ON), bypass_secret=SECRET.decode(), bypass_cookie_seconds=600
    )
    scope: dict[str, Any] = {"query_string": b"secret=" + SECRET}
    status, headers, _ = await call(middleware, "GET", "/_maintenance/bypass", scope=scope, root_path="")
    assert status == 303
    assert headers[b"location"] == b"/"
    cookie = headers[b"set-cookie"].decode()
    assert cookie.startswith("kubemaint_bypass=")
    for attribute in ("Max-Age=600", "Path=/", "HttpOnly", "Secure", "SameSite=Strict"):
        assert attribute in cookie
    assert SECRET.decode() not in cookie, "the cookie is a signature, not the secret"
    value = cookie.split(";", 1)[0]
    assert (await call(middleware, "POST", "/users", [(b"cookie", b"theme=dark; " + value.encode())]))[
        0
    ] == 200
    assert (await call(middleware, "POST", "/users", [(b"cookie", b"kubemaint_bypass=1.abc")]))[0] == 503


async def test_a_wrong_secret_is_refused_and_the_query_never_stays_in_the_scope() -> None:
    middleware = MaintenanceMiddleware(app_ok, StateView(ON), bypass_secret=SECRET.decode())
    sent: list[dict[str, Any]] = []
    scope = {"type": "http", "method": "GET", "path": "/_maintenance/bypass", "root_path": "", "headers": [],
             "query_string": b"secret=guess"}  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    await middleware(scope, receive, send)
    assert sent[0]["status"] == 403
    assert scope["query_string"] == b"", "an access log written from the scope cannot show what was typed"
    assert "bypass_networks" in repr(middleware)
    assert SECRET.decode() not in repr(middleware)


async def test_without_a_secret_the_bypass_path_is_an_ordinary_path() -> None:
    middleware = MaintenanceMiddleware(app_ok, StateView(ON))
    assert (await call(middleware, "GET", "/_maintenance/bypass", scope={"query_string": b"secret=x"}))[
        0
    ] == 503
