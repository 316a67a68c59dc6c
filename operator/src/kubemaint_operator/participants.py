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
from dataclasses import dataclass
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
    Nothing active: off.
    """
    return merge((object_state(obj, now) for obj in objects), now)


def _with(indexed: Iterable[MaintenanceObject], current: MaintenanceObject) -> list[MaintenanceObject]:
    return [*(obj for obj in indexed if obj.uid != current.uid), current]
