"""Watches of the keys the operator writes and of their acknowledgements: the daemons' wake-ups from etcd.

Per key, two watches:

* the value, through :class:`kubemaint.source.EtcdSource` (the library's resuming watch). A change at a
  revision after the one the operator last synced is drift (a hand edit, a lost write): the objects
  that write the key are woken and put it right at once. The operator's own writes are recorded as synced,
  so they never wake anyone: an older revision is one the operator has since read past, and a change
  seen while the operator reads or writes the key (:meth:`KeyWatches.syncing`) is judged once that
  read or write has said its revision (the watch may deliver a write before its answer). The source's
  watchdog reads the key once per resync interval, not every second: the daemons' own resync re-reads it
  anyway.
* the acknowledgements under ``<key>/acks/``: an ack that comes or goes (a replica drained, or its lease
  expired) wakes the objects, which read them again for ``Drained``. A (re)created stream wakes them too,
  since events may have been missed while it was down.

Between those events nothing here sends a request (an idle etcd watch is one open gRPC stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator

from etcd3aio import prefix_range_end
from kubemaint.acks import acks_prefix
from kubemaint.client import EtcdConfig, describe_error, session, watch_of
from kubemaint.source import EtcdSource, Observation
from kubemaint.tasks import cancel_and_wait

__all__ = ["KeyWatches"]

log = logging.getLogger(__name__)

_BACKOFF_START = 0.2
_BACKOFF_CAP = 5.0


class KeyWatches:
    """Two watches per key identity; ``on_change(identity)`` whenever the objects of that key must look."""

    def __init__(self, on_change: Callable[[str], None], *, watchdog_interval: float = 1.0) -> None:
        self._on_change = on_change
        self._watchdog_interval = watchdog_interval
        self._sources: dict[str, EtcdSource] = {}
        self._acks: dict[str, asyncio.Task[None]] = {}
        self._synced: dict[str, int] = {}
        self._syncing: set[str] = set()
        self._held: dict[str, Observation] = {}
        """The newest change seen per key while the operator was syncing it."""

    def ensure(self, identity: str, config: EtcdConfig, key: str) -> None:
        """Start watching ``key`` (no-op when already watched). Must run inside the operator's loop."""
        if identity in self._sources:
            return
        source = EtcdSource(
            config, key, lambda seen: self.observe(identity, seen), watchdog_interval=self._watchdog_interval
        )
        self._sources[identity] = source
        source.start()
        self._acks[identity] = asyncio.create_task(
            self._follow_acks(identity, config, acks_prefix(key)), name=f"acks {key}"
        )

    @contextlib.contextmanager
    def syncing(self, identity: str) -> Iterator[None]:
        """The operator reads or writes the key meanwhile (and calls :meth:`synced` if that succeeds)."""
        self._syncing.add(identity)
        try:
            yield
        finally:
            self._syncing.discard(identity)
            held = self._held.pop(identity, None)
            if held is not None:
                self.observe(identity, held)

    def synced(self, identity: str, revision: int) -> None:
        """The operator has just read or written the key at ``revision``: that value is not drift."""
        self._synced[identity] = revision

    async def drop(self, identity: str) -> None:
        """Stop watching a key no object targets any more."""
        source = self._sources.pop(identity, None)
        self._synced.pop(identity, None)
        self._held.pop(identity, None)
        await cancel_and_wait(self._acks.pop(identity, None))
        if source is not None:
            await source.stop()

    async def close(self) -> None:
        for identity in list(self._sources):
            await self.drop(identity)

    def observe(self, identity: str, seen: Observation) -> None:
        """The value watch saw ``seen``: drift if it is newer than the revision last synced."""
        if identity in self._syncing:
            held = self._held.get(identity)
            if held is None or seen.revision > held.revision:
                self._held[identity] = seen
            return
        synced = self._synced.get(identity)
        if synced is not None and seen.revision > synced:
            log.info(
                "the key of %s changed at revision %d (synced %d): repairing", identity, seen.revision, synced
            )
            self._on_change(identity)

    async def _follow_acks(self, identity: str, config: EtcdConfig, prefix: str) -> None:
        backoff = _BACKOFF_START
        while True:
            try:
                async with session(config) as client:
                    stream = watch_of(client).watch(prefix, range_end=prefix_range_end(prefix))
                    async with contextlib.aclosing(stream):  # type: ignore[type-var]
                        async for response in stream:
                            if response.canceled:
                                break  # compacted or refused: watch again from now, after a look
                            if response.created:
                                backoff = _BACKOFF_START
                            self._on_change(identity)
            except Exception as exc:
                log.debug("watch of %s ended: %s", prefix, describe_error(exc))
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _BACKOFF_CAP)
