"""The desired value of one etcd key: the merge of the objects that target it (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from kubemaint.state import MaintenanceState, merge

from kubemaint_operator.model import MaintenanceObject
from kubemaint_operator.windows import object_state

__all__ = ["desired_state"]


def desired_state(objects: Iterable[MaintenanceObject], now: datetime) -> MaintenanceState:
    """On if any object is enabled, inside its window and not being deleted; ``full`` beats ``read-only``;
    the largest ``retryAfterSeconds`` and the latest end win; ``sources`` lists every active object.
    Nothing active: off.
    """
    return merge((object_state(obj, now) for obj in objects), now)
