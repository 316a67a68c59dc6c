"""Watches of the keys the operator writes, so a hand edit is noticed at once rather than at the next resync.

One :class:`kubemaint.source.EtcdSource` per key (the library's resuming watch). A change at a revision other
than the one the operator last synced marks the key dirty; the drift timer then reconciles it within about a
second. The operator's own writes are recorded as synced, so they never trigger a repair.
"""

from __future__ import annotations

import logging

from kubemaint.client import EtcdConfig
from kubemaint.source import EtcdSource, Observation

__all__ = ["KeyWatches"]

log = logging.getLogger(__name__)


class KeyWatches:
    """Dirty flags per key identity, fed by one watch per key."""

    def __init__(self) -> None:
        self._sources: dict[str, EtcdSource] = {}
        self._synced: dict[str, int] = {}
        self._dirty: set[str] = set()

    def ensure(self, identity: str, config: EtcdConfig, key: str) -> None:
        """Start watching ``key`` (no-op when already watched). Must run inside the operator's loop."""
        if identity in self._sources:
            return
        source = EtcdSource(config, key, lambda seen: self.observe(identity, seen))
        self._sources[identity] = source
        source.start()

    def synced(self, identity: str, revision: int) -> None:
        """The operator has just read or written the key at ``revision``: that value is not drift."""
        self._synced[identity] = revision
        self._dirty.discard(identity)

    def take_dirty(self, identity: str) -> bool:
        """True (once) when the key changed behind the operator's back since the last sync."""
        if identity in self._dirty:
            self._dirty.discard(identity)
            return True
        return False

    async def drop(self, identity: str) -> None:
        """Stop watching a key no object targets any more."""
        source = self._sources.pop(identity, None)
        self._synced.pop(identity, None)
        self._dirty.discard(identity)
        if source is not None:
            await source.stop()

    async def close(self) -> None:
        for identity in list(self._sources):
            await self.drop(identity)

    def observe(self, identity: str, seen: Observation) -> None:
        """The watch saw ``seen``: drift unless it is the revision last synced."""
        synced = self._synced.get(identity)
        if synced is not None and seen.revision != synced:
            log.info(
                "the key of %s changed at revision %d (synced %d): repairing", identity, seen.revision, synced
            )
            self._dirty.add(identity)
