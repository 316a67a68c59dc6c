"""The maintenance responder: a maintenance-only ASGI app that stands in for a service whose every replica
is gated out of its Service, so that clients get the service's own 503 and never the ingress's bare one.

The operator publishes an extra EndpointSlice for such a Service (see ``docs/DESIGN.md``, "The stand-in")
that points at the responder's pods, on a port of their own for each Service: the port a request arrives
on (``scope["server"]``) names the Service, and :attr:`MaintenanceResponder.routes` maps it to that
Service's maintenance value. Every request on such a port gets the 503 the service itself would send
(:func:`kubemaint.asgi.refuse`: ``Retry-After``, reason, status page, the HTML page for browsers), nothing
ever reaches an application, and no request is counted or drained: there is nothing behind it.

- A read-only value is answered as a full maintenance: every replica is out of the Service, so a read
  cannot be served either.
- A port with no value, or whose value is not in force now (the maintenance has just ended and the
  replicas are not Ready yet) gets a 503 with ``Retry-After: 1`` and no reason: they are coming back.
- On ``health_port`` only ``/healthz`` (alive) and ``/readyz`` (``ready()``: the routes are loaded) answer;
  the kubelet probes them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime

from kubemaint.asgi import Receive, Scope, Send, refuse
from kubemaint.page import DEFAULT_PAGE
from kubemaint.state import MaintenanceState, Mode

__all__ = ["COMING_BACK", "MaintenanceResponder"]

COMING_BACK = MaintenanceState(enabled=True, retry_after=1)
"""What a port without a value answers: the maintenance has just ended."""


class MaintenanceResponder:
    """An ASGI app that answers every HTTP request with the maintenance 503 of the port it arrived on."""

    def __init__(
        self,
        routes: Mapping[int, MaintenanceState],
        *,
        health_port: int,
        ready: Callable[[], bool] = lambda: True,
        page_template: str = DEFAULT_PAGE,
    ) -> None:
        self.routes = routes
        """Port -> the value of the Service that port stands in for; read on every request, so the
        caller's updates take effect at once."""
        self.health_port = health_port
        self.ready = ready
        self.page_template = page_template

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # no lifespan work here: the process that serves the app loads the routes
        server = scope.get("server") or (None, None)
        if server[1] == self.health_port:
            await self._health(scope, send)
            return
        state = self.routes.get(int(server[1] or 0)) or COMING_BACK
        if not state.active_at(datetime.now(UTC)):  # a window that ended (or has not begun) here
            state = COMING_BACK
        if state.mode is Mode.READ_ONLY:
            state = replace(state, mode=Mode.FULL)
        await refuse(scope, send, state, None, self.page_template)

    async def _health(self, scope: Scope, send: Send) -> None:
        path = scope.get("path", "/")
        body: dict[str, object]
        if path == "/healthz":
            status, body = 200, {"status": "ok"}
        elif path == "/readyz":
            ready = self.ready()
            status = 200 if ready else 503
            body = {"status": "ok" if ready else "loading", "routes": len(self.routes)}
        else:
            status, body = 404, {"status": "not found"}
        payload = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
