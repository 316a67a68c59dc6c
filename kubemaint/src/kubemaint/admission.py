"""Whether one request is served during maintenance, and the 503 answer: pure, so it is unit-tested alone."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from kubemaint.state import MaintenanceState, Mode, covers, format_time

__all__ = [
    "BYPASS_HEADER",
    "DEFAULT_SKIP_PATHS",
    "PROBLEM_TYPE",
    "PROBLEM_TYPE_BASE",
    "SAFE_METHODS",
    "Decision",
    "decide",
    "is_skipped",
    "problem_document",
    "route_path",
]

DEFAULT_SKIP_PATHS: Final = ("/health", "/livez", "/readyz", "/stats", "/metrics")
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
BYPASS_HEADER: Final = "x-maintenance-bypass"
PROBLEM_TYPE_BASE: Final = "urn:kubemaint:problem:"
"""The one scheme of problem ``type`` URIs in kubemaint and the services on it (``<base><slug>``): a URN,
since no site serves documents for them (RFC 9457 allows a non-resolvable URI)."""
PROBLEM_TYPE: Final = f"{PROBLEM_TYPE_BASE}maintenance"


@dataclass(frozen=True, slots=True)
class Decision:
    """``admit`` or not; ``counted``: the request takes part in draining (skip paths do not)."""

    admit: bool
    counted: bool
    bypassed: bool = False
    retry_after: int | None = None


def route_path(path: str, root_path: str = "") -> str:
    """The path inside the app: ``path`` without ``root_path`` when the app is mounted under that prefix.

    ASGI servers and Starlette 1.x put the full path (prefix included) in ``scope["path"]`` and the prefix
    in ``scope["root_path"]``; the prefix is removed only on a segment boundary (``/api`` from ``/api/x``,
    not from ``/apix``), and a path equal to the prefix is the app's root ``/``.
    """
    root = root_path.rstrip("/")
    if not root or not path.startswith(root):
        return path
    rest = path[len(root) :]
    if not rest:
        return "/"
    return rest if rest.startswith("/") else path


def is_skipped(path: str, skip_paths: Iterable[str]) -> bool:
    """``path`` is one of ``skip_paths`` or below one (``/metrics`` also covers ``/metrics/x``)."""
    return any(path == skip or path.startswith(skip.rstrip("/") + "/") for skip in skip_paths)


def decide(
    state: MaintenanceState,
    *,
    method: str,
    path: str,
    now: datetime,
    skip_paths: Iterable[str] = DEFAULT_SKIP_PATHS,
    bypass_secret: bytes | None = None,
    bypass_value: bytes | None = None,
) -> Decision:
    """Serve or answer 503. ``state`` is the state in force, as the manager decided it (expiry is its
    decision, not this function's); ``now`` only dates ``retry_after``. A path the value's ``paths`` do
    not cover is served and not counted (draining does not wait for what the maintenance leaves alone).
    The bypass compares in constant time; no secret configured, no bypass."""
    if is_skipped(path, skip_paths):
        return Decision(admit=True, counted=False)
    if not state.enabled:
        return Decision(admit=True, counted=True)
    if not covers(state.paths, path):
        return Decision(admit=True, counted=False)  # outside the value's paths: served, and not drained
    if state.mode is Mode.READ_ONLY and method.upper() in SAFE_METHODS:
        return Decision(admit=True, counted=True)
    if bypass_secret and bypass_value is not None and hmac.compare_digest(bypass_value, bypass_secret):
        return Decision(admit=True, counted=True, bypassed=True)
    return Decision(admit=False, counted=False, retry_after=state.retry_after_at(now))


def problem_document(state: MaintenanceState, now: datetime) -> dict[str, object]:
    """The ``application/problem+json`` body of a maintenance 503 (RFC 9457 plus the maintenance fields)."""
    if state.mode is Mode.READ_ONLY:
        detail = "The service is in read-only maintenance: only GET, HEAD and OPTIONS requests are served."
    else:
        detail = "The service is under maintenance."
    if state.reason:
        detail = f"{detail} Reason: {state.reason}"
    return {
        "type": PROBLEM_TYPE,
        "title": "Service under maintenance",
        "status": 503,
        "detail": detail,
        "reason": state.reason,
        "mode": state.mode.value,
        "until": format_time(state.until) if state.until else None,
        "retryAfter": state.retry_after_at(now),
        **({"statusPage": state.status_page} if state.status_page else {}),
        **({"paths": list(state.paths)} if state.paths is not None else {}),
    }
