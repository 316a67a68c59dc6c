"""A pure-ASGI request body limit: bodies over ``max_bytes`` are answered 413 before the app sees them.

A declared ``Content-Length`` over the limit is refused at once, without reading the body. A body without a
length (chunked) is read up to the limit and then replayed to the app as one message, so the app never
receives a truncated body and the limit holds whatever the client declares.
"""

from __future__ import annotations

from typing import Final

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from users_service.problems import PROBLEM_JSON, problem_body

__all__ = ["BodyLimitMiddleware"]

_NO_BODY: Final = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "TRACE"})


class BodyLimitMiddleware:
    """Refuse request bodies larger than ``max_bytes`` with 413 problem+json."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = _content_length(headers)
        if declared is not None:
            if declared > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if scope["method"] in _NO_BODY and "chunked" not in headers.get("transfer-encoding", "").lower():
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay(message, receive), send)  # disconnect: let the app see it
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay({"type": "http.request", "body": bytes(body)}, receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        payload = problem_body(
            413,
            f"the request body is larger than {self.max_bytes} bytes",
            slug="body-too-large",
            extra={"limit": self.max_bytes},
        )
        refused = Response(payload, status_code=413, media_type=PROBLEM_JSON, headers={"connection": "close"})
        await refused(scope, receive, send)


def _content_length(headers: Headers) -> int | None:
    try:
        return int(headers["content-length"])
    except (KeyError, ValueError):
        return None


def _replay(first: Message, receive: Receive) -> Receive:
    """A ``receive`` that returns ``first`` once, then defers to the real one (for disconnects)."""
    pending: list[Message] = [first]

    async def replayed() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replayed
