"""Drained: while an active maintenance waits for its replicas, read their acknowledgements every second.

A replica acknowledges at ``<key>/acks/<instance>`` once it has drained; ``Drained`` turns True when every
live replica acknowledged the current revision (see :func:`kubemaint_operator.status.count_replicas`).
"""

from __future__ import annotations

from typing import Any

import kopf

from kubemaint_operator.conditions import condition_status
from kubemaint_operator.handlers.indexes import readable
from kubemaint_operator.kube import GROUP, PLURAL, VERSION
from kubemaint_operator.reconcile import Indexes, reconcile_object
from kubemaint_operator.runtime import runtime_of
from kubemaint_operator.windows import Phase

TICK_SECONDS = 1.0


@kopf.timer(GROUP, VERSION, PLURAL, interval=TICK_SECONDS, id="drained", when=readable)
async def watch_acknowledgements(body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    runtime = runtime_of(memo)
    published = runtime.statuses.published(body)
    if published.get("phase") != Phase.ACTIVE.value:
        return
    if condition_status(published.get("conditions") or [], "Drained") != "True":
        await reconcile_object(runtime, body, Indexes.from_kwargs(kwargs), reason="acknowledgements")
