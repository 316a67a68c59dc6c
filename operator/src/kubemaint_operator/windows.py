"""When a Maintenance is in force: its phase by the clock, its state, and its next boundary (pure)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from kubemaint.state import OFF, MaintenanceState

from kubemaint_operator.model import MaintenanceObject, MaintenanceSpec

__all__ = ["Phase", "clock_phase", "next_boundary", "object_state"]


class Phase(StrEnum):
    """``status.phase`` of a Maintenance."""

    PENDING = "Pending"
    SCHEDULED = "Scheduled"
    ACTIVE = "Active"
    COMPLETED = "Completed"
    FAILED = "Failed"


def clock_phase(spec: MaintenanceSpec, now: datetime, *, was_active: bool = False) -> Phase:
    """The phase that ``spec`` asks for at ``now``, before any I/O could fail.

    Disabled: ``Completed`` when it has been active before (someone ended it), else ``Pending``.
    """
    if not spec.enabled:
        return Phase.COMPLETED if was_active else Phase.PENDING
    window = spec.window
    if window is not None and window.start is not None and now < window.start:
        return Phase.SCHEDULED
    if window is not None and window.end is not None and now >= window.end:
        return Phase.COMPLETED
    return Phase.ACTIVE


def object_state(obj: MaintenanceObject, now: datetime) -> MaintenanceState:
    """What this one object contributes to its key at ``now``: its maintenance while active or scheduled,
    else off.

    The window travels with it: ``start`` and ``until`` (its end), so every replica enters and leaves on
    time by itself, with no write at the boundary and even when the operator is down at that moment. A
    scheduled object's state is therefore not active yet (:meth:`MaintenanceState.active_at`).
    """
    if obj.deleting or clock_phase(obj.spec, now) not in (Phase.ACTIVE, Phase.SCHEDULED):
        return OFF
    spec = obj.spec
    window = spec.window
    return MaintenanceState(
        enabled=True,
        mode=spec.mode,
        reason=spec.reason,
        retry_after=spec.retry_after,
        until=window.end if window is not None else None,
        sources=(obj.source,),
        start=window.start if window is not None else None,
        status_page=spec.status_page,
        paths=spec.paths,
    )


def next_boundary(spec: MaintenanceSpec, now: datetime) -> datetime | None:
    """The next window start or end after ``now`` (``None``: nothing will change by the clock)."""
    if not spec.enabled or spec.window is None:
        return None
    for moment in (spec.window.start, spec.window.end):
        if moment is not None and moment > now:
            return moment
    return None
