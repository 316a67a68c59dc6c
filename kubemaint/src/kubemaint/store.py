"""The store of a maintenance value in etcd: read it, write it, compare and write, delete it, and read the
replicas' acknowledgements (the CLI and the operator)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from etcd3aio import Etcd3Client, prefix_range_end

from kubemaint.acks import Ack, acks_prefix, decode_ack
from kubemaint.client import EtcdConfig, connect, kv_of
from kubemaint.state import MaintenanceState, StateParseError, encode, parse, same_meaning

__all__ = ["StateStore"]

log = logging.getLogger(__name__)


class StateStore:
    """The maintenance values and acknowledgements behind one etcd client: key-level reads and writes.
    Revisions are etcd mod revisions (0: the key is missing)."""

    def __init__(self, client: Etcd3Client, *, timeout: float = 5.0) -> None:
        self._client = client
        self._timeout = timeout

    @classmethod
    @asynccontextmanager
    async def open(cls, config: EtcdConfig) -> AsyncIterator[StateStore]:
        """Connect, yield a writer, close the client."""
        client = await connect(config)
        try:
            yield cls(client, timeout=config.timeout)
        finally:
            await client.close()

    async def get_raw(self, key: str) -> tuple[str | None, int]:
        """The stored text (``None`` when missing) and its mod revision."""
        response = await kv_of(self._client).get(key, timeout=self._timeout)
        if not response.kvs:
            return None, 0
        kv = response.kvs[0]
        return bytes(kv.value).decode("utf-8", errors="replace"), int(kv.mod_revision)

    async def get_state(self, key: str) -> tuple[MaintenanceState, int]:
        """The stored state and its mod revision. A malformed value raises :class:`StateParseError`."""
        raw, revision = await self.get_raw(key)
        return parse(raw), revision

    async def put_state(self, key: str, state: MaintenanceState) -> int:
        """Write ``state``; returns the new mod revision."""
        response = await kv_of(self._client).put(key, encode(state), timeout=self._timeout)
        return int(response.header.revision)

    async def put_if_changed(self, key: str, state: MaintenanceState) -> tuple[int, bool]:
        """Write only when the stored meaning differs (a malformed value counts as different).

        Returns the revision now in force and whether a write happened.
        """
        raw, revision = await self.get_raw(key)
        try:
            current = parse(raw)
        except StateParseError:
            current = None
        if raw is not None and current is not None and same_meaning(current, state):
            return revision, False
        return await self.put_state(key, state), True

    async def delete_state(self, key: str) -> int:
        """Remove the key (reads as off); returns the revision after the delete."""
        response = await kv_of(self._client).delete(key, timeout=self._timeout)
        return int(response.header.revision)

    async def list_acks(self, key: str) -> list[Ack]:
        """Acknowledgements of the live replicas (a dead replica's lease has removed its ack)."""
        prefix = acks_prefix(key)
        response = await kv_of(self._client).get(
            prefix, range_end=prefix_range_end(prefix), timeout=self._timeout
        )
        acks: list[Ack] = []
        for kv in response.kvs:
            instance = bytes(kv.key).decode("utf-8", errors="replace")[len(prefix) :]
            try:
                acks.append(decode_ack(instance, bytes(kv.value)))
            except StateParseError as exc:
                log.warning("ignoring a malformed acknowledgement: %s", exc)
        return sorted(acks, key=lambda ack: ack.instance)
