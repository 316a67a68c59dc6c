"""A Maintenance's ``status`` from what one reconcile observed (pure).

Conditions: ``EtcdSynced`` (the key holds the merged state), ``PodsGated`` (every selected pod with the gate
is out of service), ``Drained`` (every live replica acknowledged the current revision in maintenance) and
``Ready`` (all that this object asks for is in place).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubemaint.acks import Ack, acknowledges
from kubemaint.state import format_time

from kubemaint_operator.conditions import Condition, render_conditions
from kubemaint_operator.model import MaintenanceObject
from kubemaint_operator.windows import Phase

__all__ = ["Findings", "ReplicaCount", "build_status", "count_replicas", "status_patch"]


@dataclass(frozen=True, slots=True)
class ReplicaCount:
    """Live replicas (acks present) and those that acknowledged ``revision`` in maintenance, drained."""

    acknowledged: int
    live: int


@dataclass(frozen=True, slots=True)
class Findings:
    """What one reconcile found for one object."""

    phase: Phase
    """The phase by the clock (:func:`kubemaint_operator.windows.clock_phase`)."""
    key: str
    revision: int | None = None
    etcd_error: str | None = None
    """Reading or writing the key failed, or the operator refused to (a Secret not approved for the
    endpoints): the object is ``Failed``."""
    etcd_reason: str = "EtcdUnavailable"
    """The ``EtcdSynced`` reason for ``etcd_error``."""
    replicas: ReplicaCount | None = None
    ack_error: str | None = None
    """Listing the acknowledgements failed although the key is in place: only ``Drained`` is unknown."""
    pods_selected: int = 0
    pods_gated: int = 0
    gate_error: str | None = None


def count_replicas(acks: Sequence[Ack], revision: int) -> ReplicaCount:
    """Acks of the maintenance at ``revision``, by the library's one definition of "acknowledged"."""
    done = sum(1 for ack in acks if acknowledges(ack, revision, maintenance=True))
    return ReplicaCount(acknowledged=done, live=len(acks))


def build_status(
    obj: MaintenanceObject, seen: Findings, previous: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """The whole ``status`` for ``obj``; ``previous`` is the status it has now (for transition times)."""
    phase = Phase.FAILED if seen.etcd_error is not None else seen.phase
    etcd_synced = _etcd_synced(seen)
    pods_gated = _pods_gated(obj, seen)
    drained = _drained(seen)
    conditions = [_ready(obj, seen, phase, etcd_synced, pods_gated), etcd_synced, pods_gated, drained]
    status: dict[str, Any] = {
        "phase": phase.value,
        "observedGeneration": obj.generation,
        "activeSince": _active_since(seen, previous, now),
        "message": _message(obj, seen, phase),
        "conditions": render_conditions(conditions, previous.get("conditions") or [], obj.generation, now),
        "pods": {"selected": seen.pods_selected, "gated": seen.pods_gated},
        "etcd": {"key": seen.key, "revision": seen.revision if seen.revision is not None else 0},
    }
    if seen.replicas is not None:
        status["replicas"] = {"acknowledged": seen.replicas.acknowledged, "live": seen.replicas.live}
    elif "replicas" in previous:
        status["replicas"] = previous["replicas"]
    if seen.revision is None and "etcd" in previous:
        status["etcd"] = previous["etcd"]
    return status


def status_patch(new: Mapping[str, Any], previous: Mapping[str, Any]) -> dict[str, Any]:
    """The top-level status fields that changed (empty: nothing to write)."""
    return {key: value for key, value in new.items() if previous.get(key) != value}


def _active_since(seen: Findings, previous: Mapping[str, Any], now: datetime) -> str | None:
    """When the clock made the maintenance active; an etcd failure in between (``Failed``) does not
    restart it. Outside the window the last value stays (a disabled object that was active is Completed).
    """
    since: str | None = previous.get("activeSince")
    if seen.phase is not Phase.ACTIVE:
        return since
    continuing = previous.get("phase") in (Phase.ACTIVE.value, Phase.FAILED.value)
    return since if continuing and since else format_time(now)


def _etcd_synced(seen: Findings) -> Condition:
    if seen.etcd_error is not None:
        return Condition("EtcdSynced", False, seen.etcd_reason, f"{seen.key}: {seen.etcd_error}")
    return Condition(
        "EtcdSynced", True, "Synced", f"{seen.key} holds the merged state at revision {seen.revision}"
    )


def _pods_gated(obj: MaintenanceObject, seen: Findings) -> Condition:
    if not obj.spec.gate:
        return Condition(
            "PodsGated", False, "GateDisabled", "readiness.gate is false: pods stay in endpoints"
        )
    if seen.phase is not Phase.ACTIVE:
        return Condition("PodsGated", False, "NotActive", "the maintenance is not active: pods serve")
    counts = f"{seen.pods_gated} of {seen.pods_selected} selected pods out of service"
    if seen.gate_error is not None:
        return Condition("PodsGated", False, "GateFailed", f"{counts}: {seen.gate_error}")
    if seen.pods_gated < seen.pods_selected:
        return Condition("PodsGated", False, "Gating", counts)
    return Condition("PodsGated", True, "Gated", counts)


def _drained(seen: Findings) -> Condition:
    if seen.phase is not Phase.ACTIVE or seen.etcd_error is not None:
        return Condition("Drained", False, "NotActive", "the maintenance is not in force")
    if seen.ack_error is not None:
        return Condition(
            "Drained",
            None,
            "AcksUnavailable",
            f"cannot list the acknowledgements of {seen.key}: {seen.ack_error}",
        )
    replicas = seen.replicas
    if replicas is None:
        return Condition("Drained", None, "Unknown", "acknowledgements not read yet")
    if replicas.live == 0:
        return Condition("Drained", False, "NoReplicas", "no live replica has acknowledged yet")
    counts = f"{replicas.acknowledged} of {replicas.live} live replicas acknowledged revision {seen.revision}"
    if replicas.acknowledged < replicas.live:
        return Condition("Drained", False, "WaitingForReplicas", counts)
    return Condition("Drained", True, "AllReplicasDrained", counts)


def _ready(
    obj: MaintenanceObject, seen: Findings, phase: Phase, etcd: Condition, pods: Condition
) -> Condition:
    if etcd.status is not True:
        return Condition("Ready", False, etcd.reason, etcd.message)
    if phase is Phase.ACTIVE and obj.spec.gate and pods.status is not True:
        return Condition("Ready", False, pods.reason, pods.message)
    return Condition("Ready", True, phase.value, _message(obj, seen, phase))


def _message(obj: MaintenanceObject, seen: Findings, phase: Phase) -> str:
    spec = obj.spec
    if phase is Phase.FAILED:
        if seen.etcd_reason == "EtcdUnavailable":
            return f"cannot reach etcd for {seen.key}: {seen.etcd_error}"
        return f"refused to write {seen.key}: {seen.etcd_error}"
    if phase is Phase.SCHEDULED and spec.window is not None and spec.window.start is not None:
        return f"{spec.service} goes into maintenance at {format_time(spec.window.start)}"
    if phase is Phase.ACTIVE:
        until = ""
        if spec.window is not None and spec.window.end is not None:
            until = f" until {format_time(spec.window.end)}"
        return f"{spec.service} is in {spec.mode.value} maintenance{until}"
    if phase is Phase.COMPLETED:
        return f"the maintenance of {spec.service} is over"
    return f"{spec.service} is not in maintenance (disabled)"
