"""Which state a replica should be in, from what it knows: pure decisions behind the Manager.

* expiry: a value past its ``until`` is off (:meth:`MaintenanceState.at`);
* losing etcd (``MAINTENANCE_ON_ETCD_LOSS``): ``last-known`` keeps the last good value; ``open`` serves and
  ``closed`` enters maintenance once etcd has been unreachable for the grace period;
* what kind of transition moving from the applied state to the target is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from kubemaint.state import OFF, MaintenanceState

__all__ = [
    "LOSS_STATE",
    "LossPolicy",
    "Target",
    "Transition",
    "next_deadline",
    "target_state",
    "transition_between",
]


class LossPolicy(StrEnum):
    """What to do while etcd cannot be reached (``MAINTENANCE_ON_ETCD_LOSS``)."""

    LAST_KNOWN = "last-known"
    OPEN = "open"
    CLOSED = "closed"


LOSS_STATE: Final = MaintenanceState(
    enabled=True, reason="maintenance state unknown: etcd is unreachable", sources=("etcd-loss-policy",)
)
"""The state applied by the ``closed`` policy."""


@dataclass(frozen=True, slots=True)
class Target:
    """The state to be in and where it comes from: ``etcd``, ``last-known``, ``loss-policy`` or ``none``."""

    state: MaintenanceState
    origin: str


def target_state(
    known: MaintenanceState | None,
    *,
    now: datetime,
    connected: bool,
    disconnected_for: float | None,
    policy: LossPolicy,
    grace: float,
) -> Target:
    """The state to apply now. ``known`` is the last good value read from etcd (``None``: never read)."""
    lost = not connected and disconnected_for is not None and disconnected_for >= grace
    if lost and policy is LossPolicy.OPEN:
        return Target(OFF, "loss-policy")
    if lost and policy is LossPolicy.CLOSED:
        return Target(LOSS_STATE, "loss-policy")
    if known is None:
        return Target(OFF, "none")
    return Target(known.at(now), "etcd" if connected else "last-known")


def next_deadline(
    admitted: MaintenanceState,
    *,
    now: datetime,
    connected: bool,
    disconnected_for: float | None,
    policy: LossPolicy,
    grace: float,
    known: MaintenanceState | None = None,
) -> float | None:
    """Seconds until the target may change without a new value: ``until`` passing, the ``start`` of the
    ``known`` value arriving, or the grace ending."""
    deadlines: list[float] = []
    if admitted.enabled and admitted.until is not None:
        deadlines.append(max(0.0, (admitted.until - now).total_seconds()))
    if known is not None and known.enabled and known.start is not None and known.start > now:
        deadlines.append((known.start - now).total_seconds())
    if not connected and disconnected_for is not None and policy is not LossPolicy.LAST_KNOWN:
        remaining = grace - disconnected_for
        if remaining > 0:
            deadlines.append(remaining)
    return min(deadlines) if deadlines else None


class Transition(StrEnum):
    """How the applied state must move: handlers run on ``enter`` (also a mode ``switch``) and ``leave``."""

    ENTER = "enter"
    SWITCH = "switch"
    LEAVE = "leave"
    UPDATE = "update"
    NONE = "none"


def transition_between(applied: MaintenanceState, target: MaintenanceState) -> Transition:
    """``enter``/``switch`` drain and call ``on_start``; ``leave`` calls ``on_end``; ``update`` only
    changes what clients are told (reason, retry, until)."""
    if target.enabled and not applied.enabled:
        return Transition.ENTER
    if applied.enabled and not target.enabled:
        return Transition.LEAVE
    if target.enabled and applied.mode is not target.mode:
        return Transition.SWITCH
    if applied != target:
        return Transition.UPDATE
    return Transition.NONE
