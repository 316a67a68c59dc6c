"""Pods with the ``kubemaint.io/serving`` gate get its condition as soon as they appear or change.

A pod with the gate and no condition never becomes Ready, so new pods are set at once: False while an
active Maintenance of its namespace selects it, True otherwise. Pods without the gate are never touched.
"""

from __future__ import annotations

from typing import Any

import kopf

from kubemaint_operator.gates import PodView, gate_patch, serving_decision
from kubemaint_operator.handlers.indexes import pod_has_gate
from kubemaint_operator.model import MaintenanceObject
from kubemaint_operator.reconcile import utcnow
from kubemaint_operator.runtime import runtime_of


@kopf.on.event("", "v1", "pods", when=pod_has_gate)
async def keep_gate(
    body: kopf.Body,
    type: str,
    memo: Any,
    **kwargs: Any,
) -> None:
    maintenances: kopf.Index[str, MaintenanceObject] = kwargs["maintenances_by_namespace"]
    if type == "DELETED" or body.metadata.get("deletionTimestamp"):
        return
    pod = PodView.from_body(body)
    now = utcnow()
    decision = serving_decision(pod.namespace, dict(pod.labels), maintenances.get(pod.namespace, ()), now)
    if pod.serving != decision.serving:
        await runtime_of(memo).kube.patch_pod_status(pod.namespace, pod.name, gate_patch(decision, now))
