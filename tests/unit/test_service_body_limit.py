"""The pure-ASGI body limit, driven with hand-made ASGI messages (no server, no network)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from users_service.body_limit import BodyLimitMiddleware

from tests.support.asgi import exchange

Message = dict[str, object]


class RecordingApp:
    """An ASGI app that reads the whole body and answers 200 with its length."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(
        self,
        scope: dict[str, object],
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")  # type: ignore[operator]
            if not message.get("more_body"):
                break
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(len(body)).encode()})


async def test_a_declared_length_over_the_limit_is_refused_without_reading() -> None:
    inner = RecordingApp()
    sent = await exchange(BodyLimitMiddleware(inner, max_bytes=10), [b"x" * 11], [(b"content-length", b"11")])
    assert sent[0]["status"] == 413
    assert (b"content-type", b"application/problem+json") in sent[0]["headers"]  # type: ignore[operator]
    problem = json.loads(sent[1]["body"])  # type: ignore[arg-type]
    assert problem["status"] == 413
    assert problem["limit"] == 10
    assert inner.bodies == []


async def test_a_streamed_body_over_the_limit_is_refused() -> None:
    inner = RecordingApp()
    chunked = [(b"transfer-encoding", b"chunked")]
    sent = await exchange(BodyLimitMiddleware(inner, max_bytes=10), [b"x" * 6, b"x" * 6], chunked)
    assert sent[0]["status"] == 413
    assert inner.bodies == []


async def test_a_streamed_body_within_the_limit_reaches_the_app_whole() -> None:
    inner = RecordingApp()
    chunked = [(b"transfer-encoding", b"chunked")]
    sent = await exchange(BodyLimitMiddleware(inner, max_bytes=10), [b"abc", b"def", b"ghij"], chunked)
    assert sent[0]["status"] == 200
    assert inner.bodies == [b"abcdefghij"]


async def test_a_body_at_the_limit_passes() -> None:
    inner = RecordingApp()
    sent = await exchange(BodyLimitMiddleware(inner, max_bytes=10), [b"x" * 10], [(b"content-length", b"10")])
    assert sent[0]["status"] == 200
    assert inner.bodies == [b"x" * 10]


async def test_a_get_without_a_body_passes_straight_through() -> None:
    inner = RecordingApp()
    sent = await exchange(BodyLimitMiddleware(inner, max_bytes=10), [b""], [], method="GET")
    assert sent[0]["status"] == 200
