"""The maintenance state: the one module that knows the etcd value format.

Parse, encode, merge and evaluate-at-time. Pure: no I/O, no clock unless the caller passes one, so the
service, the operator and the CLI all agree on what a value means.

Value format (DESIGN.md, "The maintenance state"):

* missing key or empty value: off;
* a plain word, case-insensitive, surrounding space ignored (GoMaint-compatible): ``true``, ``1``, ``on``,
  ``enabled`` and ``maintenance`` mean on in ``full`` mode; any other word means off;
* a JSON object ``{"enabled": true, "mode": "full" | "read-only", "reason": "...", "retryAfter": 300,
  "until": "2026-12-01T03:00:00Z" | null, "sources": [...], "paths": ["/users/*"], "statusPage":
  "https://...", "updatedAt": "..."}``; unknown fields are ignored; a value past its ``until`` is off;
  ``paths`` narrows the maintenance to those paths (:func:`covers`), absent means every path; a value
  before its ``start`` is off (so a window holds at every replica without a write at its start);
* a value that starts with ``{`` but is not valid JSON for that schema raises :class:`StateParseError`, and
  the reader keeps its last good state.

Decision recorded here: in a JSON value ``enabled`` is required. ``{"reason": "x"}`` could mean either on or
off, and guessing wrong either serves writes during a migration or takes a service down, so it is refused.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

__all__ = [
    "DEFAULT_PREFIX",
    "DEFAULT_RETRY_AFTER",
    "OFF",
    "ON_WORDS",
    "MaintenanceState",
    "Mode",
    "StateParseError",
    "check_paths",
    "check_status_page",
    "covers",
    "encode",
    "format_time",
    "key_for",
    "merge",
    "parse",
    "parse_time",
    "same_meaning",
]

ON_WORDS: Final = frozenset({"true", "1", "on", "enabled", "maintenance"})
"""Plain values that mean "on", exactly as GoMaint reads them."""

DEFAULT_RETRY_AFTER: Final = 60
"""Seconds sent in ``Retry-After`` when a value names neither ``retryAfter`` nor ``until``."""

MAX_REASON_LENGTH: Final = 1024
MAX_STATUS_PAGE_LENGTH: Final = 2048
MAX_PATHS: Final = 64
MAX_PATH_LENGTH: Final = 256
_PATH = re.compile(r"^/[^\s?#]*$")
_STATUS_PAGE = re.compile(r"^https?://[^\s<>\"'\\]+$")
"""An http(s) URL without white space, quotes, angle brackets or backslashes: safe in a ``Link`` header and
an ``href`` (it is escaped there too)."""

DEFAULT_PREFIX: Final = "/maintenance"
"""Where the keys live: a service's key is ``<prefix>/<service>``."""


def key_for(service: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The etcd key of ``service``'s maintenance: ``<prefix>/<service>``, one slash between (DESIGN.md).

    The one definition of the convention: the CLI, the service's settings and the operator's targets use
    it; the users-service chart's ``maintenanceKey`` helper is a copy, held to it by a bundle test.
    """
    return f"{prefix.rstrip('/')}/{service}"


class Mode(StrEnum):
    """What a maintenance blocks: ``full`` every request, ``read-only`` only unsafe methods."""

    FULL = "full"
    READ_ONLY = "read-only"


class StateParseError(ValueError):
    """A value that looks like JSON (starts with ``{``) but is not a valid maintenance object."""


@dataclass(frozen=True, slots=True)
class MaintenanceState:
    """One maintenance state, as stored in etcd. ``enabled=False`` is off whatever the other fields say."""

    enabled: bool = False
    mode: Mode = Mode.FULL
    reason: str = ""
    retry_after: int | None = None
    until: datetime | None = None
    sources: tuple[str, ...] = field(default_factory=tuple)
    updated_at: datetime | None = None
    start: datetime | None = None
    """Off before this moment (``start``): the reader itself opens the window."""
    paths: tuple[str, ...] | None = None
    """The paths the maintenance covers (see :func:`covers`); ``None``: every path."""
    status_page: str | None = None
    """A page where people follow the maintenance (``statusPage``): linked from both 503 bodies and sent as
    ``Link: <url>; rel="help"``."""

    def active_at(self, now: datetime) -> bool:
        """True when this state puts the service into maintenance at ``now``: ``start`` reached (or none),
        ``until`` not yet."""
        return (
            self.enabled
            and (self.start is None or now >= self.start)
            and (self.until is None or now < self.until)
        )

    def at(self, now: datetime) -> MaintenanceState:
        """The state in force at ``now``: itself while active, :data:`OFF` before ``start`` and once
        ``until`` has passed."""
        if self.enabled and not self.active_at(now):
            return OFF
        return self

    @property
    def label(self) -> str:
        """``off``, ``on`` or ``read-only``: the value of the ``X-Maintenance`` header."""
        if not self.enabled:
            return "off"
        return "read-only" if self.mode is Mode.READ_ONLY else "on"

    def retry_after_at(self, now: datetime) -> int:
        """Seconds for ``Retry-After``: ``retryAfter`` if set, else the time left until ``until``."""
        if self.retry_after is not None:
            return self.retry_after
        if self.until is not None:
            return max(1, math.ceil((self.until - now).total_seconds()))
        return DEFAULT_RETRY_AFTER


OFF: Final = MaintenanceState()


def parse_time(value: str) -> datetime:
    """Parse an RFC 3339 timestamp; a value without an offset is refused rather than guessed."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise StateParseError(f"not an RFC 3339 time: {value!r}") from exc
    if parsed.tzinfo is None:
        raise StateParseError(f"time without a UTC offset: {value!r}")
    return parsed.astimezone(UTC)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix and whole seconds, as Kubernetes writes times."""
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse(raw: bytes | str | None) -> MaintenanceState:
    """Read a stored value. Raises :class:`StateParseError` only for a malformed JSON object."""
    if raw is None:
        return OFF
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    text = text.strip()
    if not text:
        return OFF
    if not text.startswith("{"):
        return MaintenanceState(enabled=True) if text.lower() in ON_WORDS else OFF
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateParseError(f"invalid JSON: {exc.msg} at position {exc.pos}") from exc
    if not isinstance(document, dict):
        raise StateParseError("a JSON value must be an object")
    return _from_document(document)


def _from_document(document: Mapping[str, Any]) -> MaintenanceState:
    enabled = document.get("enabled")
    if not isinstance(enabled, bool):
        raise StateParseError('"enabled" must be true or false')
    mode_value = document.get("mode", Mode.FULL.value)
    try:
        mode = Mode(mode_value)
    except (ValueError, TypeError):
        raise StateParseError(f'"mode" must be "full" or "read-only", not {mode_value!r}') from None
    reason = document.get("reason", "")
    if reason is None:
        reason = ""
    if not isinstance(reason, str):
        raise StateParseError('"reason" must be a string')
    retry_after = document.get("retryAfter")
    if retry_after is not None and (
        isinstance(retry_after, bool) or not isinstance(retry_after, int) or retry_after < 0
    ):
        raise StateParseError('"retryAfter" must be a whole number of seconds, 0 or more')
    sources = document.get("sources", [])
    if sources is None:
        sources = []
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise StateParseError('"sources" must be a list of strings')
    return MaintenanceState(
        enabled=enabled,
        mode=mode,
        reason=reason[:MAX_REASON_LENGTH],
        retry_after=retry_after,
        until=_optional_time(document, "until"),
        sources=tuple(sources),
        updated_at=_optional_time(document, "updatedAt"),
        status_page=check_status_page(document.get("statusPage")),
        paths=check_paths(document.get("paths")),
        start=_window_start(document),
    )


def _window_start(document: Mapping[str, Any]) -> datetime | None:
    start, until = _optional_time(document, "start"), _optional_time(document, "until")
    if start is not None and until is not None and start >= until:
        raise StateParseError('"start" must be before "until"')
    return start


def check_paths(value: object) -> tuple[str, ...] | None:
    """``value`` as the ``paths`` of a value (``None`` when absent); raises :class:`StateParseError`.

    Each path starts with ``/``, has no white space, ``?`` or ``#``, and at most 256 characters; at most 64
    of them, at least one (leave ``paths`` out to cover everything). Returned sorted and without repeats.
    """
    if value is None:
        return None
    if not isinstance(value, list) or not value or len(value) > MAX_PATHS:
        raise StateParseError(f'"paths" must be a list of 1 to {MAX_PATHS} paths, or left out for every path')
    for path in value:
        if not isinstance(path, str) or len(path) > MAX_PATH_LENGTH or not _PATH.match(path):
            raise StateParseError(
                f'"paths": {path!r} is not a path: it must start with "/", at most {MAX_PATH_LENGTH} '
                'characters, without spaces, "?" or "#"'
            )
    return tuple(sorted(set(value)))


def covers(paths: tuple[str, ...] | None, path: str) -> bool:
    """True when a maintenance with ``paths`` covers the request ``path``.

    Each entry is a prefix on a segment boundary, where ``*`` stands for exactly one segment: ``/users``
    covers ``/users`` and ``/users/7`` but not ``/usersx``; ``/users/*/orders`` covers
    ``/users/7/orders/1``; ``/`` covers everything. ``None`` covers everything.
    """
    if paths is None:
        return True
    segments = [part for part in path.split("/") if part]
    for entry in paths:
        pattern = [part for part in entry.split("/") if part]
        if len(pattern) <= len(segments) and all(
            p in ("*", s) for p, s in zip(pattern, segments, strict=False)
        ):
            return True
    return False


def check_status_page(value: object) -> str | None:
    """``value`` as a status page URL (``None`` when absent); raises :class:`StateParseError` otherwise."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_STATUS_PAGE_LENGTH or not _STATUS_PAGE.match(value):
        raise StateParseError(
            f'"statusPage" must be an http:// or https:// URL of at most {MAX_STATUS_PAGE_LENGTH} characters '
            "without spaces, quotes, angle brackets or backslashes"
        )
    return value


def _optional_time(document: Mapping[str, Any], name: str) -> datetime | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise StateParseError(f'"{name}" must be an RFC 3339 time or null')
    return parse_time(value)


def encode(state: MaintenanceState) -> str:
    """The JSON value that the operator and the CLI write (stable key order: equal states encode equally)."""
    document: dict[str, Any] = {
        "enabled": state.enabled,
        "mode": state.mode.value,
        "reason": state.reason,
        "retryAfter": state.retry_after,
        "until": format_time(state.until) if state.until else None,
        "sources": list(state.sources),
    }
    if state.start is not None:
        document["start"] = format_time(state.start)
    if state.paths is not None:
        document["paths"] = list(state.paths)
    if state.status_page is not None:
        document["statusPage"] = state.status_page
    if state.updated_at is not None:
        document["updatedAt"] = format_time(state.updated_at)
    return json.dumps(document, separators=(",", ":"))


def same_meaning(a: MaintenanceState, b: MaintenanceState) -> bool:
    """Equal apart from ``updatedAt``: the test a writer uses to write only on change."""
    return replace(a, updated_at=None) == replace(b, updated_at=None)


def merge(states: Iterable[MaintenanceState], now: datetime) -> MaintenanceState:
    """Merge the states of several Maintenance objects for one service (DESIGN.md, "The operator").

    On if any is active at ``now``; ``full`` wins over ``read-only``; the largest ``retryAfter`` and the
    latest end win (no end at all beats any end); reasons are joined (sorted, so the result does not
    depend on the order the objects were listed in); ``sources`` lists every active one; of several status
    pages the one that sorts first is linked; ``paths`` are the union, and any state without ``paths``
    covers everything. Nothing active gives :data:`OFF`.
    """
    active = [s for s in states if s.active_at(now)]
    if not active:
        return OFF
    mode = Mode.FULL if any(s.mode is Mode.FULL for s in active) else Mode.READ_ONLY
    retries = [s.retry_after for s in active if s.retry_after is not None]
    untils = [s.until for s in active]
    until = None if any(u is None for u in untils) else max(u for u in untils if u is not None)
    reasons = sorted({s.reason for s in active if s.reason})  # sorted: the same objects in any order
    sources = sorted({source for s in active for source in s.sources})
    pages = sorted({s.status_page for s in active if s.status_page})
    paths = None
    if all(s.paths is not None for s in active):
        paths = tuple(sorted({path for s in active for path in s.paths or ()}))
    return MaintenanceState(
        enabled=True,
        mode=mode,
        reason="; ".join(reasons),
        retry_after=max(retries) if retries else None,
        until=until,
        sources=tuple(sources),
        status_page=pages[0] if pages else None,
        paths=paths,
    )
