"""MaintenanceMiddleware: pure ASGI (no Starlette), so it wraps any ASGI app and never buffers a body.

Per HTTP request: decide with :func:`kubemaint.admission.decide` on the path inside the app (``root_path``
removed when mounted under a prefix); a refused request gets a 503 with ``Retry-After``: an HTML page when
its ``Accept`` prefers HTML (:mod:`kubemaint.page`), ``application/problem+json`` otherwise, and
``Link: <url>; rel="help"`` when the value names a status page; an admitted one is counted in flight (for
draining) while the app runs. Every response carries ``X-Maintenance: on|off|read-only`` (the state when
it started).
The bypass secret is compared in constant time and never logged.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from datetime import UTC, datetime
from typing import Any, Protocol

from kubemaint.admission import (
    BYPASS_HEADER,
    DEFAULT_SKIP_PATHS,
    SAFE_METHODS,
    decide,
    problem_document,
    route_path,
)
from kubemaint.inflight import InFlight
from kubemaint.page import DEFAULT_PAGE, prefers_html, render_page
from kubemaint.state import MaintenanceState

__all__ = ["MaintenanceMiddleware", "MaintenanceView"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_BYPASS = BYPASS_HEADER.encode("latin-1")
_ACCEPT = b"accept"


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
    ) -> None:
        self.app = app
        self.manager = manager
        self.skip_paths = tuple(skip_paths)
        self.page_template = page_template
        self._secret = bypass_secret.encode() if bypass_secret else None

    def __repr__(self) -> str:  # the secret stays out of any repr
        return f"MaintenanceMiddleware(skip_paths={self.skip_paths!r}, bypass={self._secret is not None})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        now = datetime.now(UTC)
        state = self.manager.state
        method = str(scope.get("method", "GET")).upper()
        decision = decide(
            state,
            method=method,
            path=route_path(str(scope.get("path", "/")), str(scope.get("root_path", ""))),
            now=now,
            skip_paths=self.skip_paths,
            bypass_secret=self._secret,
            bypass_value=_header(scope, _BYPASS) if self._secret else None,
        )
        if not decision.admit:
            accept = _header(scope, _ACCEPT)
            html = prefers_html(accept.decode("latin-1") if accept else None)
            await _refuse(send, state, now, decision.retry_after, self.page_template if html else None)
            return
        in_flight = self.manager.in_flight
        write = method not in SAFE_METHODS

        async def send_with_label(message: Message) -> None:
            if message["type"] == "http.response.start":
                label = self.manager.state.label.encode("latin-1")
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-maintenance"]
                message["headers"] = [*headers, (b"x-maintenance", label)]
            await send(message)

        if not decision.counted:
            await self.app(scope, receive, send_with_label)
            return
        in_flight.enter(write=write)
        try:
            await self.app(scope, receive, send_with_label)
        finally:
            in_flight.exit(write=write)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


async def _refuse(
    send: Send, state: MaintenanceState, now: datetime, retry_after: int | None, page: str | None
) -> None:
    """The 503: the HTML ``page`` template rendered when given, else the problem document as JSON."""
    document = problem_document(state, now)
    if retry_after is not None:
        document["retryAfter"] = retry_after
    if page is not None:
        body, content_type = render_page(page, document), b"text/html; charset=utf-8"
    else:
        body, content_type = json.dumps(document, separators=(",", ":")).encode(), b"application/problem+json"
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(document["retryAfter"]).encode()),
        (b"x-maintenance", state.label.encode("latin-1")),
        (b"cache-control", b"no-store"),
        (b"vary", b"Accept"),
    ]
    if state.status_page:
        headers.append((b"link", f'<{state.status_page}>; rel="help"'.encode("latin-1")))
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})
