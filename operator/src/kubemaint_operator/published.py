"""The status this replica last published per object, for as long as kopf's copy may lag behind it (pure).

After the operator patches ``status``, kopf's ``body`` shows the old status until the watch delivers the new
version, and a timer or handler running in between must not act on it. So the operator remembers what it
wrote, and with it the ``resourceVersion`` values that are *not newer* than that: the version its patch
was based on and each version its own patches produced. A body at one of those versions is at most as new
as the remembered status, which then wins. A body at any other version was written by someone else after
that: another replica that led while this one was paused (a leader hand-over), a user, kopf itself. The
body then wins and the memory is dropped, so a replica that regains leadership never works from the
status it wrote before it lost it.

``resourceVersion`` values are compared for equality only, as the API conventions require: they are opaque.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["PublishedStatuses"]

_KEPT_VERSIONS = 16
"""Versions remembered per object: more than the patches one object gets between two watch events."""


@dataclass(frozen=True, slots=True)
class _Entry:
    status: dict[str, Any]
    versions: tuple[str, ...]


class PublishedStatuses:
    """Per object uid: the last status this replica published, valid while the body has not moved on."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def published(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The status in force for ``body``: the remembered one while ``body`` is not newer, else its own."""
        uid, version = _identity(body)
        entry = self._entries.get(uid)
        if entry is not None and version in entry.versions:
            return entry.status
        self._entries.pop(uid, None)
        return dict(body.get("status") or {})

    def remember(self, body: Mapping[str, Any], status: dict[str, Any], written: str | None = None) -> None:
        """``status`` is in force for ``body``; ``written`` is the version a patch of it produced."""
        uid, version = _identity(body)
        entry = self._entries.get(uid)
        versions = entry.versions if entry is not None and version in entry.versions else (version,)
        if written is not None and written not in versions:
            versions = (*versions, written)
        self._entries[uid] = _Entry(status=status, versions=versions[-_KEPT_VERSIONS:])

    def forget(self, uid: str) -> None:
        self._entries.pop(uid, None)

    def __contains__(self, uid: object) -> bool:
        return uid in self._entries


def _identity(body: Mapping[str, Any]) -> tuple[str, str]:
    metadata = body.get("metadata") or {}
    return str(metadata.get("uid") or ""), str(metadata.get("resourceVersion") or "")
