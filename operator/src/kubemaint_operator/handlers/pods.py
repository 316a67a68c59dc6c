"""Pods with the ``kubemaint.io/serving`` gate get its condition as soon as they appear or change.

A pod with the gate and no condition never becomes Ready, so new pods are set at once: False while an
active Maintenance of its namespace selects it, True otherwise. Pods without the gate are never touched.
A pod that came, went or had its gate set wakes the daemons of its namespace, so their ``status.pods``
follows at once rather than at the next resync. A pod Ready again ends a stand-in that lingers after its
maintenance (:mod:`kubemaint_operator.stand_in`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from kubemaint_operator.gates import PodView
from kubemaint_operator.handlers.indexes import pod_has_gate
from kubemaint_operator.model import MaintenanceObject
from kubemaint_operator.participants import BY_NAMESPACE
from kubemaint_operator.reconcile import utcnow
from kubemaint_operator.runtime import runtime_of

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 15.0


@kopf.on.event("", "v1", "pods", when=pod_has_gate)
async def keep_gate(
    body: kopf.Body,
    type: str,
    memo: Any,
    logger: kopf.Logger,
    **kwargs: Any,
) -> None:
    """Set the pod's condition; a failed patch is retried here until it lands or the pod is gone.

    kopf never retries an event handler, and a new pod that never gets the condition is never Ready, so
    the retry cannot wait for the next event (there may be none). Each attempt decides again from the
    live index, so a Maintenance created or deleted meanwhile is honoured. Events of this pod that arrive
    meanwhile wait for the handler, and kopf hands over only the newest.
    """
    maintenances: kopf.Index[str, MaintenanceObject] = kwargs[BY_NAMESPACE]
    runtime = runtime_of(memo)
    pod = PodView.from_body(body)
    if type == "DELETED" or body.metadata.get("deletionTimestamp"):
        if type == "DELETED":
            runtime.gates.forget(pod)
        runtime.wakeups.wake_namespace(pod.namespace)  # status.pods of its Maintenances
        return
    delay = FIRST_RETRY_SECONDS
    while True:
        serving, error = await runtime.gates.apply([pod], maintenances.get(pod.namespace, ()), utcnow())
        if error is None:
            if type == "ADDED" or serving.get(pod.name, pod.serving) != pod.serving:
                runtime.wakeups.wake_namespace(pod.namespace)
            if pod.ready and runtime.stand_ins is not None and runtime.stand_ins.lingers_in(pod.namespace):
                await runtime.stand_ins.replica_ready(pod)  # the stand-in's last job is done
            return  # set, already right, or the pod is gone
        logger.warning("cannot set the gate of pod %s/%s, retrying in %.0f s: %s", pod.namespace, pod.name,
                       delay, error)  # fmt: skip
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_RETRY_SECONDS)
