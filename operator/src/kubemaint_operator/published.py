"""The status this replica last published per object, for as long as kopf's copy may lag behind it (pure).

After the operator patches ``status``, kopf's ``body`` shows the old status until the watch delivers the new
version, and a timer or handler running in between must not act on it. So the operator remembers what it
wrote, and which statuses it knows: the one each patch was based on and each one it wrote. A body whose
status is one of those is at most as new as the memory, which then wins, whatever its ``resourceVersion``
(kopf's own annotation patches make versions that carry one of our statuses, older or newer: versions are
opaque, and cannot say which). A body with a status this replica never saw was written by someone else
after it: another replica that led while this one was paused (a leader hand-over), or a person. The body
then wins and the memory is dropped, so a replica that leads again never works from the status it wrote
before it paused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["PublishedStatuses"]

_KEPT = 16
"""Statuses remembered per object: more than one object gets between two watch events."""


@dataclass(frozen=True, slots=True)
class _Entry:
    status: dict[str, Any]
    known: tuple[str, ...]


class PublishedStatuses:
    """Per object uid: the last status this replica published, valid while nobody else wrote one."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def published(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The status in force for ``body``: the remembered one unless someone else wrote since."""
        uid = _uid(body)
        entry = self._entries.get(uid)
        if entry is not None and _fingerprint(body.get("status")) in entry.known:
            return entry.status
        self._entries.pop(uid, None)
        return dict(body.get("status") or {})

    def remember(self, body: Mapping[str, Any], status: dict[str, Any]) -> None:
        """``status`` is in force for ``body`` (written by a patch, or found unchanged)."""
        uid = _uid(body)
        base = _fingerprint(body.get("status"))
        entry = self._entries.get(uid)
        known = entry.known if entry is not None and base in entry.known else (base,)
        mine = _fingerprint(status)
        if mine not in known:
            known = (*known, mine)
        self._entries[uid] = _Entry(status=status, known=known[-_KEPT:])

    def forget(self, uid: str) -> None:
        self._entries.pop(uid, None)

    def __contains__(self, uid: object) -> bool:
        return uid in self._entries


def _uid(body: Mapping[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("uid") or "")


def _fingerprint(status: object) -> str:
    """A status as the API server keeps it after a merge patch: fields set to null are absent."""
    fields = {k: v for k, v in dict(status or {}).items() if v is not None}  # type: ignore[call-overload]
    return json.dumps(fields, sort_keys=True, default=str)
