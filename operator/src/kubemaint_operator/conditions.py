"""Status conditions shaped like ``metav1.Condition`` (pure).

``lastTransitionTime`` moves only when a condition's status changes, as Kubernetes tools expect
(``kubectl wait --for=condition=Drained`` and friends).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubemaint.state import format_time

__all__ = ["Condition", "condition_status", "render_conditions"]


@dataclass(frozen=True, slots=True)
class Condition:
    """One condition before rendering: ``status`` True, False or None (Unknown)."""

    type: str
    status: bool | None
    reason: str
    message: str

    @property
    def status_text(self) -> str:
        return "Unknown" if self.status is None else "True" if self.status else "False"


def render_conditions(
    conditions: Iterable[Condition], previous: Sequence[Mapping[str, Any]], generation: int, now: datetime
) -> list[dict[str, Any]]:
    """``metav1.Condition`` dicts; a condition whose status did not change keeps its transition time."""
    before = {str(item.get("type")): item for item in previous if isinstance(item, Mapping)}
    rendered: list[dict[str, Any]] = []
    for condition in conditions:
        old = before.get(condition.type)
        changed = old is None or old.get("status") != condition.status_text
        since = format_time(now) if changed or old is None else str(old.get("lastTransitionTime"))
        rendered.append(
            {
                "type": condition.type,
                "status": condition.status_text,
                "observedGeneration": generation,
                "lastTransitionTime": since,
                "reason": condition.reason,
                "message": condition.message,
            }
        )
    return rendered


def condition_status(conditions: Sequence[Mapping[str, Any]], kind: str) -> str | None:
    """The ``status`` string of condition ``kind`` in a rendered list, or None when absent."""
    for item in conditions:
        if isinstance(item, Mapping) and item.get("type") == kind:
            value = item.get("status")
            return str(value) if value is not None else None
    return None
