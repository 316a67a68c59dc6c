"""kopf indexes: Maintenance objects by etcd target and by namespace, gated pods by namespace.

Indexes are filled before any handler runs and updated before each event's handlers, so a reconcile always
sees every object that shares its key, without listing anything from the API server. What the merges do
with them is :mod:`kubemaint_operator.participants`, which names the ids.
"""

from __future__ import annotations

from typing import Any

import kopf

from kubemaint_operator.gates import PodView, has_gate
from kubemaint_operator.kube import GROUP, PLURAL, VERSION
from kubemaint_operator.model import MaintenanceObject, SpecError
from kubemaint_operator.participants import BY_NAMESPACE, BY_TARGET, GATED_PODS
from kubemaint_operator.runtime import runtime_of


def pod_has_gate(spec: kopf.Spec, **_: Any) -> bool:
    """Only pods that opt into ``kubemaint.io/serving`` are ever touched."""
    return has_gate(spec)


def readable(body: kopf.Body, **_: Any) -> bool:
    """The daemon's filter: an object whose spec cannot be read has nothing to follow (its create handler
    reported why, once, and the indexes leave it out)."""
    try:
        MaintenanceObject.from_body(body)
    except SpecError:
        return False
    return True


def _read(body: kopf.Body, logger: kopf.Logger) -> MaintenanceObject | None:
    try:
        return MaintenanceObject.from_body(body)
    except SpecError as exc:
        logger.warning("ignoring a Maintenance the CRD should have refused: %s", exc)
        return None


@kopf.index(GROUP, VERSION, PLURAL, id=BY_TARGET)
def maintenances_by_target(
    body: kopf.Body, memo: Any, logger: kopf.Logger, **_: Any
) -> dict[str, MaintenanceObject]:
    obj = _read(body, logger)
    if obj is None:
        return {}
    return {runtime_of(memo).target_of(obj).identity: obj}


@kopf.index(GROUP, VERSION, PLURAL, id=BY_NAMESPACE)
def maintenances_by_namespace(body: kopf.Body, logger: kopf.Logger, **_: Any) -> dict[str, MaintenanceObject]:
    obj = _read(body, logger)
    return {} if obj is None else {obj.namespace: obj}


@kopf.index("", "v1", "pods", id=GATED_PODS, when=pod_has_gate)
def gated_pods(body: kopf.Body, **_: Any) -> dict[str, PodView]:
    pod = PodView.from_body(body)
    return {pod.namespace: pod}
