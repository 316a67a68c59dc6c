"""Transitions reach the administrator's webhook: CloudEvents, signed, in order, retried, never twice.

The sink is a loopback HTTP server in this process; its first answer is a 500, so the first event is
delivered by a retry."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from kube_support import Kube, OperatorProcess, maintenance

from tests.support.polling import eventually

SECRET = "a-webhook-secret-for-the-tests"


class Sink:
    """What the webhook received: (headers, body) per request; the first ``fail`` requests get a 500."""

    def __init__(self, fail: int) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.fail = fail
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                sink.received.append((dict(self.headers), body))
                failing = len(sink.received) <= sink.fail
                self.send_response(500 if failing else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self) -> list[dict[str, Any]]:
        """The events that got a 2xx, in order (a failed attempt is not delivered)."""
        return [json.loads(body) for i, (_, body) in enumerate(self.received) if i >= self.fail]


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink(fail=1)
    yield server
    server.server.shutdown()


def test_each_transition_is_one_signed_cloud_event_in_order(
    kube: Kube, start_operator: Callable[..., OperatorProcess], namespace: str, service_name: str, sink: Sink
) -> None:
    start_operator(NOTIFY_WEBHOOK_URL=sink.url, NOTIFY_WEBHOOK_SECRET=SECRET)
    kube.apply(maintenance("m", namespace, service_name, reason="upgrade"))
    kube.wait_phase(namespace, "m", "Active")
    eventually(lambda: len(sink.delivered()) == 1, 20, "the Active event, after one failed attempt")
    kube.apply(maintenance("m", namespace, service_name, reason="upgrade", enabled=False))
    kube.wait_phase(namespace, "m", "Completed")
    eventually(lambda: len(sink.delivered()) == 2, 20, "the Completed event")
    time.sleep(5)  # several resyncs (RESYNC_SECONDS=2): nothing is sent again
    events = sink.delivered()
    assert [e["type"] for e in events] == [
        "io.kubemaint.maintenance.active",
        "io.kubemaint.maintenance.completed",
    ]
    assert len(sink.received) == 3, "one retry of the first event, nothing else"
    assert sink.received[0][1] == sink.received[1][1], "a retry sends the same body (the same id)"
    active = events[0]
    assert active["specversion"] == "1.0"
    assert active["source"] == f"/apis/kubemaint.io/v1alpha1/namespaces/{namespace}/maintenances/m"
    assert active["subject"] == service_name
    assert active["data"]["key"] == f"/maintenance/{service_name}"
    assert len({e["id"] for e in events}) == 2
    for headers, body in sink.received:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Kubemaint-Signature"], expected)
        assert headers["Content-Type"] == "application/cloudevents+json"
