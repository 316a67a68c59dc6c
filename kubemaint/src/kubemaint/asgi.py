"""MaintenanceMiddleware: pure ASGI (no Starlette), so it wraps any ASGI app and never buffers a body.

Per HTTP request: decide with :func:`kubemaint.admission.decide` on the path inside the app (``root_path``
removed when mounted under a prefix); a refused request gets a 503 with ``Retry-After``: an HTML page when
its ``Accept`` prefers HTML (:mod:`kubemaint.page`), ``application/problem+json`` otherwise, and
``Link: <url>; rel="help"`` when the value names a status page; an admitted one is counted in flight (for
draining) while the app runs. Every response carries ``X-Maintenance: on|off|read-only`` (the state when
it started).
Bypasses, for the people doing the maintenance: clients in ``bypass_networks`` (their address is the
socket's peer, or the ``X-Forwarded-For`` entry added by a proxy in ``trusted_proxies``, never a header
from an untrusted peer), the ``X-Maintenance-Bypass`` header, and a browser's cookie: visiting
``/_maintenance/bypass?secret=...`` once sets an ``HttpOnly``, ``Secure``, ``SameSite=Strict`` cookie
signed with the bypass secret and valid ``bypass_cookie_seconds``. Secrets compare in constant time and
are never logged: the middleware blanks that request's query string in the scope before any access log
reads it.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import parse_qs

from kubemaint.admission import (
    BYPASS_COOKIE,
    BYPASS_HEADER,
    BYPASS_PATH,
    DEFAULT_SKIP_PATHS,
    PROBLEM_TYPE_BASE,
    SAFE_METHODS,
    Decision,
    bypass_cookie,
    client_address,
    decide,
    in_networks,
    parse_networks,
    problem_document,
    route_path,
    skip_matcher,
)
from kubemaint.inflight import InFlight
from kubemaint.page import DEFAULT_PAGE, prefers_html, render_page
from kubemaint.state import MaintenanceState

__all__ = ["MaintenanceMiddleware", "MaintenanceView", "refuse"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_BYPASS = BYPASS_HEADER.encode("latin-1")
_ACCEPT = b"accept"
_COOKIE = b"cookie"
_LABELS: dict[str, bytes] = {"off": b"off", "on": b"on", "read-only": b"read-only"}
_FORWARDED_FOR = b"x-forwarded-for"


class MaintenanceView(Protocol):
    """What the middleware needs from a :class:`~kubemaint.manager.Manager`."""

    @property
    def state(self) -> MaintenanceState: ...

    @property
    def in_flight(self) -> InFlight: ...


class MaintenanceMiddleware:
    """Wrap ``app``; ``manager`` is a :class:`~kubemaint.manager.Manager` (or anything with its view)."""

    def __init__(
        self,
        app: ASGIApp,
        manager: MaintenanceView,
        *,
        skip_paths: Iterable[str] = DEFAULT_SKIP_PATHS,
        bypass_secret: str | None = None,
        page_template: str = DEFAULT_PAGE,
        bypass_networks: Iterable[str] = (),
        trusted_proxies: Iterable[str] = (),
        bypass_cookie_seconds: int = 3600,
    ) -> None:
        self.app = app
        self.manager = manager
        self.skip_paths = tuple(skip_paths)
        self._skipped = skip_matcher(self.skip_paths)
        self.page_template = page_template
        self.bypass_networks = parse_networks(bypass_networks)
        self.trusted_proxies = parse_networks(trusted_proxies)
        self.bypass_cookie_seconds = bypass_cookie_seconds
        self._secret = bypass_secret.encode() if bypass_secret else None

    def __repr__(self) -> str:  # the secret stays out of any repr
        return (
            f"MaintenanceMiddleware(skip_paths={self.skip_paths!r}, bypass={self._secret is not None}, "
            f"bypass_networks={[str(n) for n in self.bypass_networks]!r})"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = self.manager.state
        path: str = scope.get("path", "/")
        if scope.get("root_path"):
            path = route_path(path, scope["root_path"])
        if self._secret is not None and path == BYPASS_PATH:
            await self._bypass_visit(scope, send, datetime.now(UTC))
            return
        method = str(scope.get("method", "GET")).upper()
        if self._skipped(path):
            counted = False
        elif not state.enabled:
            counted = True  # the off path: no clock, no decision, a count and a header
        else:
            decision = self._decide(scope, state, method, path)
            if not decision.admit:
                await refuse(scope, send, state, decision.retry_after, self.page_template)
                return
            counted = decision.counted
        manager = self.manager

        async def send_with_label(message: Message) -> None:
            if message["type"] == "http.response.start":
                label = _LABELS[manager.state.label]
                headers = [h for h in message.get("headers", ()) if h[0].lower() != b"x-maintenance"]
                headers.append((b"x-maintenance", label))
                message["headers"] = headers
            await send(message)

        if not counted:
            await self.app(scope, receive, send_with_label)
            return
        write = method not in SAFE_METHODS
        in_flight = manager.in_flight
        in_flight.enter(write=write)
        try:
            await self.app(scope, receive, send_with_label)
        finally:
            in_flight.exit(write=write)

    def _decide(self, scope: Scope, state: MaintenanceState, method: str, path: str) -> Decision:
        """The decision while a maintenance is on (the off path never gets here)."""
        return decide(
            state,
            method=method,
            path=path,
            now=datetime.now(UTC),
            skip_paths=(),  # __call__ has answered the skip paths already
            bypass_secret=self._secret,
            bypass_value=_header(scope, _BYPASS) if self._secret else None,
            bypass_cookie_value=_cookie(scope, BYPASS_COOKIE) if self._secret else None,
            client_trusted=self._trusted_client(scope),
        )

    def _trusted_client(self, scope: Scope) -> bool:
        """The request's client is in ``bypass_networks`` (none configured: nobody is)."""
        if not self.bypass_networks:
            return False
        peer = scope.get("client")
        forwarded = _header(scope, _FORWARDED_FOR)
        client = client_address(
            str(peer[0]) if peer else None,
            forwarded.decode("latin-1") if forwarded else None,
            self.trusted_proxies,
        )
        return in_networks(client, self.bypass_networks)

    async def _bypass_visit(self, scope: Scope, send: Send, now: datetime) -> None:
        """``?secret=`` right: a 303 to the app's root with the signed cookie; wrong: 403. The query string is
        blanked in the scope first, so no access log written from it shows the secret."""
        query = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"))
        scope["query_string"] = b""
        given = (query.get("secret") or [""])[0].encode("latin-1")
        root = str(scope.get("root_path", "")).rstrip("/")
        if self._secret is not None and given and hmac.compare_digest(given, self._secret):
            expires = int(now.timestamp()) + self.bypass_cookie_seconds
            value = bypass_cookie(self._secret, expires)
            cookie = (
                f"{BYPASS_COOKIE}={value}; Max-Age={self.bypass_cookie_seconds}; Path={root or '/'}; "
                "HttpOnly; Secure; SameSite=Strict"
            )
            headers = [(b"location", f"{root}/".encode("latin-1")), (b"set-cookie", cookie.encode("latin-1"))]
            await _answer(send, 303, headers, b"")
            return
        body = json.dumps(
            {"type": f"{PROBLEM_TYPE_BASE}bypass-refused", "title": "Bypass refused", "status": 403,
             "detail": "The bypass secret is missing or wrong."}, separators=(",", ":"),
        ).encode()  # fmt: skip
        await _answer(send, 403, [(b"content-type", b"application/problem+json")], body)


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    """A whole answer the middleware makes itself: never cached, with its length."""
    extra = [(b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, *extra]})
    await send({"type": "http.response.body", "body": body})


def _cookie(scope: Scope, name: str) -> str | None:
    header = _header(scope, _COOKIE)
    if not header:
        return None
    for part in header.decode("latin-1").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


async def refuse(
    scope: Scope, send: Send, state: MaintenanceState, retry_after: int | None, page_template: str
) -> None:
    """The maintenance 503 for ``state``: ``page_template`` rendered when the request's ``Accept`` prefers
    HTML, else the problem document as JSON; ``Retry-After`` (``retry_after`` when given), ``X-Maintenance``,
    ``Vary: Accept`` and the status page's ``Link``. The middleware and :mod:`kubemaint.responder` send it."""
    accept = _header(scope, _ACCEPT)
    page = page_template if prefers_html(accept.decode("latin-1") if accept else None) else None
    document = problem_document(state, datetime.now(UTC))
    if retry_after is not None:
        document["retryAfter"] = retry_after
    if page is not None:
        body, content_type = render_page(page, document), b"text/html; charset=utf-8"
    else:
        body, content_type = json.dumps(document, separators=(",", ":")).encode(), b"application/problem+json"
    headers = [
        (b"content-type", content_type),
        (b"retry-after", str(document["retryAfter"]).encode()),
        (b"x-maintenance", _LABELS[state.label]),
        (b"vary", b"Accept"),
    ]
    if state.status_page:
        headers.append((b"link", f'<{state.status_page}>; rel="help"'.encode("latin-1")))
    await _answer(send, 503, headers, body)
