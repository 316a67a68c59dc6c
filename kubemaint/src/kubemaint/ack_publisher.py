"""AckPublisher: keeps one replica's acknowledgement in etcd under a lease that it keeps alive.

The lease (``ttl`` seconds) is renewed every ``ttl / 3``; a replica that dies stops renewing, and etcd
removes its ack when the lease expires. A clean stop revokes the lease so the ack goes at once. After any
failure a new client and a new lease are made and the latest ack is written again, so a restarted etcd, an
expired lease or a wiped store all heal by themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from etcd3aio import Etcd3Client

from kubemaint.acks import Ack, encode_ack
from kubemaint.client import EtcdConfig, connect, describe_error, kv_of, lease_of
from kubemaint.tasks import cancel_and_wait

__all__ = ["AckPublisher"]

log = logging.getLogger(__name__)


class LeaseLostError(RuntimeError):
    """etcd says the lease no longer exists."""


class AckPublisher:
    """Writes the latest :class:`Ack` given to :meth:`publish` at ``key``, attached to a kept-alive lease."""

    def __init__(self, config: EtcdConfig, key: str, *, ttl: int = 10, backoff_cap: float = 1.0) -> None:
        if ttl < 2:
            raise ValueError("the ack lease TTL must be at least 2 seconds")
        self._config = config
        self._key = key
        self._ttl = ttl
        self._backoff_cap = backoff_cap
        self._pending: Ack | None = None
        self._dirty = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: Etcd3Client | None = None
        self._lease_id: int | None = None
        self._written: Ack | None = None
        self.writes = 0
        self.last_error: str | None = None

    @property
    def key(self) -> str:
        return self._key

    @property
    def written(self) -> Ack | None:
        """The acknowledgement last stored in etcd."""
        return self._written

    def publish(self, ack: Ack) -> None:
        """Make ``ack`` the one to store (written in the background as soon as etcd answers)."""
        self._pending = ack
        self._dirty = True
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"ack-publisher {self._key}")

    async def stop(self) -> None:
        """Stop renewing and revoke the lease, so the acknowledgement disappears now."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        client, lease_id = self._client, self._lease_id
        self._client, self._lease_id = None, None
        if client is not None:
            try:
                if lease_id is not None:
                    await lease_of(client).revoke(lease_id, timeout=self._config.timeout)
            except Exception as exc:
                log.warning("could not revoke the ack lease (the ack expires with it): %s", exc)
            finally:
                with contextlib.suppress(Exception):
                    await client.close()

    def stats(self) -> dict[str, object]:
        return {
            "key": self._key,
            "leaseId": self._lease_id,
            "writes": self.writes,
            "revision": self._written.revision if self._written else None,
            "lastError": self.last_error,
        }

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                self._client = await connect(self._config)
                await self._session(self._client)
            except Exception as exc:
                message = describe_error(exc)
                if message != self.last_error:
                    log.warning("ack %s: %s; retrying", self._key, message)
                self.last_error = message
                client, self._client, self._lease_id = self._client, None, None
                if client is not None:
                    with contextlib.suppress(Exception):
                        await client.close()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._backoff_cap)

    async def _session(self, client: Etcd3Client) -> None:
        lease = await lease_of(client).grant(self._ttl, timeout=self._config.timeout)
        self._lease_id = int(lease.ID)
        self._dirty = self._pending is not None
        interval = max(0.5, self._ttl / 3)
        loop = asyncio.get_running_loop()
        next_renewal = loop.time() + interval
        while True:
            pending = self._pending
            if self._dirty and pending is not None:
                self._dirty = False
                await kv_of(client).put(
                    self._key, encode_ack(pending), lease=self._lease_id, timeout=self._config.timeout
                )
                self._written = pending
                self.writes += 1
                self.last_error = None
            self._wake.clear()
            if self._dirty:
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, next_renewal - loop.time())):
                    await self._wake.wait()
            if loop.time() >= next_renewal:
                await self._renew(client)
                next_renewal = loop.time() + interval

    async def _renew(self, client: Etcd3Client) -> None:
        assert self._lease_id is not None
        stream = lease_of(client).keep_alive(self._lease_id)
        try:
            async with asyncio.timeout(self._config.timeout):
                async for response in stream:
                    if int(response.TTL) <= 0:
                        raise LeaseLostError(f"lease {self._lease_id} expired")
                    return
        finally:
            stream.cancel()
        raise LeaseLostError("keep-alive stream ended without an answer")
