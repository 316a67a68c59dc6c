"""Which Kubernetes Events a status change deserves (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubemaint_operator.conditions import condition_status

__all__ = ["EventNote", "transition_events"]


@dataclass(frozen=True, slots=True)
class EventNote:
    """An Event to post on the Maintenance object."""

    type: str  # Normal | Warning
    reason: str
    message: str


def transition_events(
    previous: Mapping[str, Any], new: Mapping[str, Any], *, stand_in: bool = False
) -> list[EventNote]:
    """One Event per phase transition, one when ``Drained`` turns True, and one when the maintenance takes
    every selected pod out of the Service's endpoints: Normal with a stand-in (the responder answers the
    Service's clients), else a Warning (clients then get the ingress's bare 503).
    """
    notes: list[EventNote] = []
    phase = new.get("phase")
    if phase and phase != previous.get("phase"):
        kind = "Warning" if phase == "Failed" else "Normal"
        notes.append(EventNote(kind, str(phase), str(new.get("message") or phase)))
    drained_now = condition_status(new.get("conditions") or [], "Drained")
    drained_before = condition_status(previous.get("conditions") or [], "Drained")
    if drained_now == "True" and drained_before != "True":
        replicas = new.get("replicas") or {}
        notes.append(
            EventNote(
                "Normal", "Drained", f"all {replicas.get('live', 0)} live replicas acknowledged and drained"
            )
        )
    gated_now = condition_status(new.get("conditions") or [], "PodsGated")
    gated_before = condition_status(previous.get("conditions") or [], "PodsGated")
    pods = new.get("pods") or {}
    if gated_now == "True" and gated_before != "True" and int(pods.get("selected") or 0) > 0:
        out = f"all {pods.get('selected')} selected pods are out of the Service's endpoints"
        if stand_in:
            notes.append(EventNote("Normal", "AllReplicasGated", f"{out}: the maintenance responder answers"))
        else:
            notes.append(
                EventNote(
                    "Warning",
                    "AllReplicasGated",
                    f"{out}: clients get the ingress's 503 without Retry-After; "
                    "readiness.gate: false keeps them answering 503 themselves",
                )
            )
    return notes
