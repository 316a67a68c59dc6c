"""Driving an ASGI app in this process: hand-made messages for middleware, and an httpx client over
ASGITransport with the app's lifespan run, for the service's API-level tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx
from kubemaint.inflight import InFlight
from kubemaint.state import MaintenanceState

if TYPE_CHECKING:
    from fastapi import FastAPI

Message = dict[str, Any]
App = Callable[[Any, Any, Any], Awaitable[None]]
Headers = Sequence[tuple[bytes, bytes]]


class StateView:
    """What the middleware reads from a Manager: a state and an in-flight counter (a stand-in for unit
    tests of the middleware alone)."""

    def __init__(self, state: MaintenanceState) -> None:
        self.state = state
        self.in_flight = InFlight()


async def app_ok(scope: Any, receive: Any, send: Any) -> None:
    """An app that answers 200 ``ok`` to everything."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def exchange(
    app: App,
    body: Sequence[bytes],
    headers: Headers,
    method: str = "POST",
    path: str = "/users",
    root_path: str = "",
    scope: dict[str, Any] | None = None,
) -> list[Message]:
    """One HTTP request to ``app``: its ``body`` in chunks (then ``http.disconnect``); every message the
    app sent back, in order. ``scope`` adds to (or overrides) the request's scope, e.g. ``client``."""
    scope = {
        "type": "http", "method": method, "path": path, "root_path": root_path, "headers": list(headers),
        **(scope or {}),
    }  # fmt: skip
    chunks = [
        {"type": "http.request", "body": chunk, "more_body": i < len(body) - 1}
        for i, chunk in enumerate(body)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(dict(message))

    await app(scope, receive, send)
    return sent


async def call(
    app: App,
    method: str,
    path: str,
    headers: Headers | None = None,
    root_path: str = "",
    scope: dict[str, Any] | None = None,
) -> tuple[int, dict[bytes, bytes], bytes]:
    """One bodiless request (:func:`exchange`): the status, the headers and the whole body of the answer."""
    sent = await exchange(app, [b""], headers or [], method, path, root_path, scope)
    start = sent[0]
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


@asynccontextmanager
async def lifespan_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """``async with lifespan_client(app) as client``: the app started (its lifespan run) and reached through
    httpx's ASGITransport at ``http://users.test``; shut down on leaving."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://users.test") as client:
            yield client
