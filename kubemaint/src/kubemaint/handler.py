"""Handler: what a service plugs into the Manager to change with maintenance (a pool, a consumer, a cron)."""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

from kubemaint.state import MaintenanceState

__all__ = ["Handler", "safe_health", "safe_stats"]

log = logging.getLogger(__name__)


@runtime_checkable
class Handler(Protocol):
    """Something that changes with maintenance (a pool, a queue consumer, a cron).

    ``on_start`` runs after the drain when maintenance begins and again when its mode changes (``state``
    says which); ``on_end`` runs before requests are admitted again. An exception is logged and recorded
    in the manager's ``last_error``; the transition goes on. ``health`` and ``stats`` must not block.
    """

    name: str

    async def on_start(self, state: MaintenanceState) -> None: ...

    async def on_end(self, state: MaintenanceState) -> None: ...

    def health(self) -> bool: ...

    def stats(self) -> dict[str, object]: ...


def safe_health(handler: Handler) -> bool:
    """``handler.health()``, False when it raises."""
    try:
        return bool(handler.health())
    except Exception:
        log.exception("handler %s health check failed", handler.name)
        return False


def safe_stats(handler: Handler) -> dict[str, object]:
    """``handler.stats()``, or the error when it raises."""
    try:
        return dict(handler.stats())
    except Exception as exc:
        return {"error": str(exc)}
