"""Transitions to a webhook the administrator configured: CloudEvents, signed, retried, never blocking.

``NOTIFY_WEBHOOK_URL`` and ``NOTIFY_WEBHOOK_SECRET`` are operator settings, so the sink is the
administrator's choice, never a URL that a Maintenance's author wrote. Each transition the operator
publishes (``Scheduled``, ``Active``, ``Completed``, ``Failed``, ``Drained``) becomes one CloudEvent in
structured JSON mode (``application/cloudevents+json``), for example::

    {"specversion": "1.0", "id": "…", "source": "/apis/kubemaint.io/v1alpha1/namespaces/shop/maintenances/m",
     "type": "io.kubemaint.maintenance.active", "subject": "users-service", "time": "2026-12-01T02:00:00Z",
     "datacontenttype": "application/json",
     "data": {"namespace": "shop", "name": "m", "service": "users-service", "transition": "Active",
              "message": "…", "key": "/maintenance/users-service", "revision": 42}}

The body is signed with HMAC-SHA256 under the secret: ``X-Kubemaint-Signature: sha256=<hex>``. Events are
queued and sent in order by one background task: a reconcile only enqueues. A failed delivery (an error or
a status other than 2xx) is retried with the same body and ``id`` (so a receiver can drop a repeat) after
1, 2, 4, 8 and 16 s, then dropped with a warning; the queue holds at most 1000 events.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import aiohttp
from kubemaint.state import format_time
from kubemaint.tasks import cancel_and_wait

from kubemaint_operator.events import EventNote
from kubemaint_operator.kube import GROUP, PLURAL, VERSION

__all__ = ["NOTIFIED", "SIGNATURE_HEADER", "Notifier", "cloud_event", "signature"]

log = logging.getLogger(__name__)

NOTIFIED: Final = frozenset({"Scheduled", "Active", "Completed", "Failed", "Drained"})
"""The Event reasons that are sent (an ``AllReplicasGated`` warning or a return to ``Pending`` is not)."""
SIGNATURE_HEADER: Final = "X-Kubemaint-Signature"
_QUEUE_SIZE: Final = 1000


def signature(secret: bytes, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def cloud_event(
    namespace: str, name: str, service: str, note: EventNote, status: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """The CloudEvent of one transition of ``namespace/name``."""
    etcd = status.get("etcd") or {}
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}",
        "type": f"io.kubemaint.maintenance.{note.reason.lower()}",
        "subject": service,
        "time": format_time(now),
        "datacontenttype": "application/json",
        "data": {
            "namespace": namespace,
            "name": name,
            "service": service,
            "transition": note.reason,
            "message": note.message,
            "key": etcd.get("key"),
            "revision": etcd.get("revision"),
        },
    }


class Notifier:
    """One webhook sink: ``send`` enqueues, a background task delivers in order."""

    def __init__(
        self, url: str, secret: bytes, *, backoffs: Sequence[float] = (1, 2, 4, 8, 16), timeout: float = 10.0
    ) -> None:
        self._url = url
        self._secret = secret
        self._backoffs = tuple(backoffs)
        self._timeout = timeout
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=_QUEUE_SIZE)
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:  # the secret stays out of any repr
        return f"Notifier(url={self._url!r})"

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="notifications")

    def send(self, event: Mapping[str, Any]) -> None:
        """Queue ``event``; a full queue drops it with a warning rather than hold a reconcile."""
        body = json.dumps(event, separators=(",", ":")).encode()
        try:
            self._queue.put_nowait(body)
        except asyncio.QueueFull:
            log.warning("notification queue full: dropping %s", event.get("type"))

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                body = await self._queue.get()
                await self._deliver(session, body)

    async def _deliver(self, session: aiohttp.ClientSession, body: bytes) -> None:
        headers = {
            "Content-Type": "application/cloudevents+json",
            SIGNATURE_HEADER: signature(self._secret, body),
        }
        for attempt, delay in enumerate((*self._backoffs, None)):
            try:
                async with session.post(self._url, data=body, headers=headers) as response:
                    if 200 <= response.status < 300:
                        return
                    problem = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = type(exc).__name__
            if delay is None:
                log.warning("notification dropped after %d attempts: %s", attempt + 1, problem)
                return
            log.info("notification not delivered (%s), retrying in %.0f s", problem, delay)
            await asyncio.sleep(delay)
