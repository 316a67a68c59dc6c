"""Wake-ups of the per-object daemons: one event per Maintenance, set by whatever means it must act now.

Each object's daemon (:mod:`kubemaint_operator.handlers.follow`) sleeps until its next window boundary, its
next resync, or its event. The event is set by a change of the spec (the update handler), by a change
seen by a key watch (:mod:`kubemaint_operator.key_watches`) on the key the object writes (a value written
behind the operator's back, or an acknowledgement that came or went), and by a gated pod of its namespace
that came, went or changed its gate (the pods handler), so ``status.pods`` follows. Nothing is polled.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

__all__ = ["Wakeups"]


@dataclass(slots=True)
class _Follower:
    event: asyncio.Event = field(default_factory=asyncio.Event)
    identity: str = ""
    namespace: str = ""


class Wakeups:
    """Per object uid: its wake-up event, the key identity it follows now, and its namespace."""

    def __init__(self) -> None:
        self._followers: dict[str, _Follower] = {}

    def follow(self, uid: str, identity: str, namespace: str) -> asyncio.Event:
        """The event of ``uid``, now following ``identity`` (its spec may move it to another key)."""
        follower = self._followers.setdefault(uid, _Follower())
        follower.identity, follower.namespace = identity, namespace
        return follower.event

    def wake(self, uid: str) -> None:
        follower = self._followers.get(uid)
        if follower is not None:
            follower.event.set()

    def wake_target(self, identity: str) -> None:
        """Wake every object that writes the key ``identity``."""
        for follower in self._followers.values():
            if follower.identity == identity:
                follower.event.set()

    def wake_namespace(self, namespace: str) -> None:
        """Wake every object of ``namespace`` (its gated pods changed)."""
        for follower in self._followers.values():
            if follower.namespace == namespace:
                follower.event.set()

    def forget(self, uid: str) -> None:
        self._followers.pop(uid, None)

    def __len__(self) -> int:
        return len(self._followers)
