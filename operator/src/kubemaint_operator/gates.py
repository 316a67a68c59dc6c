"""The pod readiness gate ``kubemaint.io/serving``: who wants it False, the patch that sets it, and
:func:`apply_gates`, the one place that patches pods (every other function here is pure)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubemaint.client import describe_error
from kubemaint.state import format_time

from kubemaint_operator.kube import KubeClient
from kubemaint_operator.labels import matches, selector_of
from kubemaint_operator.model import MaintenanceObject
from kubemaint_operator.windows import Phase, clock_phase

__all__ = [
    "GATE_TYPE",
    "GateDecision",
    "PodView",
    "apply_gates",
    "gate_patch",
    "gates_pod",
    "has_gate",
    "serving_decision",
]

GATE_TYPE = "kubemaint.io/serving"
"""The pod condition type that pods opt into with ``spec.readinessGates``."""


@dataclass(frozen=True, slots=True)
class PodView:
    """What the operator needs of a pod that carries the gate."""

    namespace: str
    name: str
    labels: tuple[tuple[str, str], ...]
    serving: bool | None
    """Current ``kubemaint.io/serving`` condition: True, False, or None when not set yet."""
    ready: bool = False

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> PodView:
        metadata = body.get("metadata") or {}
        conditions = (body.get("status") or {}).get("conditions") or []
        return cls(
            namespace=str(metadata.get("namespace") or ""),
            name=str(metadata.get("name") or ""),
            labels=tuple(sorted((metadata.get("labels") or {}).items())),
            serving=_condition(conditions, GATE_TYPE),
            ready=_condition(conditions, "Ready") is True,
        )


@dataclass(frozen=True, slots=True)
class GateDecision:
    """Whether a pod should be serving, and which Maintenance objects take it out."""

    serving: bool
    sources: tuple[str, ...] = ()


def has_gate(spec: Mapping[str, Any]) -> bool:
    """True when the pod spec declares ``readinessGates: [{conditionType: kubemaint.io/serving}]``."""
    gates = spec.get("readinessGates") or []
    return any(isinstance(g, Mapping) and g.get("conditionType") == GATE_TYPE for g in gates)


def gates_pod(obj: MaintenanceObject, labels: Mapping[str, str], now: datetime) -> bool:
    """True when ``obj`` takes a pod with ``labels`` (in the same namespace) out of service at ``now``."""
    return (
        obj.spec.gate
        and not obj.deleting
        and clock_phase(obj.spec, now) is Phase.ACTIVE
        and matches(selector_of(obj.spec), labels)
    )


def serving_decision(
    namespace: str, labels: Mapping[str, str], objects: Iterable[MaintenanceObject], now: datetime
) -> GateDecision:
    """Serving unless an active, gating Maintenance of the pod's namespace selects it."""
    sources = sorted(
        obj.source for obj in objects if obj.namespace == namespace and gates_pod(obj, labels, now)
    )
    return GateDecision(serving=not sources, sources=tuple(sources))


def gate_patch(decision: GateDecision, now: datetime) -> dict[str, Any]:
    """Strategic-merge patch for ``pods/status`` (conditions merge by ``type``)."""
    if decision.serving:
        reason, message = "NoMaintenance", "no Maintenance takes this pod out of service"
    else:
        reason = "Maintenance"
        message = "in maintenance by " + ", ".join(decision.sources)
    return {
        "status": {
            "conditions": [
                {
                    "type": GATE_TYPE,
                    "status": "True" if decision.serving else "False",
                    "reason": reason,
                    "message": message,
                    "lastTransitionTime": format_time(now),
                }
            ]
        }
    }


async def apply_gates(
    kube: KubeClient, pods: Iterable[PodView], objects: Iterable[MaintenanceObject], now: datetime
) -> tuple[dict[str, bool], str | None]:
    """Bring each pod's condition to what ``objects`` ask, patching only those that differ (at once).

    Returns pod name -> serving as it now stands (a failed patch keeps the pod's old value) and the
    last error, if any patch failed. A pod that is gone is left out.
    """
    everyone = list(objects)
    serving: dict[str, bool] = {}
    pending: list[tuple[PodView, bool, Mapping[str, Any]]] = []
    for pod in pods:
        decision = serving_decision(pod.namespace, dict(pod.labels), everyone, now)
        if pod.serving == decision.serving:
            serving[pod.name] = decision.serving
        else:
            pending.append((pod, decision.serving, gate_patch(decision, now)))
    results = await asyncio.gather(
        *(kube.patch_pod_status(pod.namespace, pod.name, body) for pod, _, body in pending),
        return_exceptions=True,
    )
    error = None
    for (pod, wanted, _), result in zip(pending, results, strict=True):
        if isinstance(result, BaseException):
            error = f"patching pod {pod.name}: {describe_error(result)}"
            if pod.serving is not None:
                serving[pod.name] = pod.serving
        elif result:
            serving[pod.name] = wanted
    return serving, error


def _condition(conditions: Iterable[Any], kind: str) -> bool | None:
    for condition in conditions:
        if isinstance(condition, Mapping) and condition.get("type") == kind:
            status = condition.get("status")
            return True if status == "True" else False if status == "False" else None
    return None
