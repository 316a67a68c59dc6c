"""Which objects take part in a merge, and what the merge of a key is (the one place that decides it).

Two merges, each over kopf's in-memory indexes (declared in :mod:`kubemaint_operator.handlers.indexes`
under the ids below, filled before any handler runs, so nothing is listed from the API server):

* **a key's value**: every readable Maintenance that writes the same etcd key (its target identity, see
  :mod:`kubemaint_operator.targets`), merged by :func:`desired_state`;
* **a namespace's pods**: every readable Maintenance of the pods' namespace, which the readiness gates
  follow (:func:`kubemaint_operator.gates.serving_decision`).

The object being reconciled always takes part with its current body, replacing its own (maybe older)
index entry; an object being deleted takes part as ``deleting``, which contributes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import kopf
from kubemaint.state import MaintenanceState, merge

from kubemaint_operator.gates import PodView
from kubemaint_operator.model import MaintenanceObject
from kubemaint_operator.windows import object_state

__all__ = ["BY_NAMESPACE", "BY_TARGET", "GATED_PODS", "Indexes", "desired_state"]

BY_TARGET = "maintenances_by_target"
"""Index id: Maintenance objects by the identity of the key they write."""
BY_NAMESPACE = "maintenances_by_namespace"
"""Index id: Maintenance objects by namespace."""
GATED_PODS = "gated_pods"
"""Index id: pods with the ``kubemaint.io/serving`` readiness gate, by namespace."""


@dataclass(frozen=True, slots=True)
class Indexes:
    """kopf's indexes, as one handler received them."""

    by_target: kopf.Index[str, MaintenanceObject]
    by_namespace: kopf.Index[str, MaintenanceObject]
    pods: kopf.Index[str, PodView]

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> Indexes:
        """Pick the indexes out of a handler's keyword arguments (kopf passes them by index id)."""
        return cls(by_target=kwargs[BY_TARGET], by_namespace=kwargs[BY_NAMESPACE], pods=kwargs[GATED_PODS])

    def sharing_key(self, identity: str, current: MaintenanceObject) -> list[MaintenanceObject]:
        """The objects merged into the key ``identity``, with ``current`` as it is now."""
        return _with(self.by_target.get(identity, ()), current)

    def sharing_namespace(self, current: MaintenanceObject) -> list[MaintenanceObject]:
        """The objects the pods of ``current``'s namespace follow, with ``current`` as it is now."""
        return _with(self.by_namespace.get(current.namespace, ()), current)

    def others_on(self, identity: str, uid: str) -> list[MaintenanceObject]:
        """The objects other than ``uid`` that write the key ``identity``."""
        return [obj for obj in self.by_target.get(identity, ()) if obj.uid != uid]

    def pods_of(self, namespace: str) -> list[PodView]:
        return list(self.pods.get(namespace, ()))


def desired_state(objects: Iterable[MaintenanceObject], now: datetime) -> MaintenanceState:
    """On if any object is enabled, inside its window and not being deleted; ``full`` beats ``read-only``;
    the largest ``retryAfterSeconds`` and the latest end win; ``sources`` lists every active object.

    Nothing active: the next window, written ahead (the merge of the objects whose window opens first,
    with that ``start``), so each replica opens it on time by itself; nothing scheduled either: off.
    While active, the value keeps the ``start`` its objects share, so it reads the same before and after
    the boundary and nothing is written there.
    """
    states = [object_state(obj, now) for obj in objects]
    current = merge(states, now)
    if current.enabled:
        starts = [s.start for s in states if s.active_at(now)]
        shared = starts[0] if starts and all(start == starts[0] for start in starts) else None
        return replace(current, start=shared)
    upcoming = [s for s in states if s.enabled and s.start is not None and s.start > now]
    if not upcoming:
        return current
    first = min(s.start for s in upcoming if s.start is not None)
    return replace(merge((s for s in upcoming if s.start == first), first), start=first)


def _with(indexed: Iterable[MaintenanceObject], current: MaintenanceObject) -> list[MaintenanceObject]:
    return [*(obj for obj in indexed if obj.uid != current.uid), current]
