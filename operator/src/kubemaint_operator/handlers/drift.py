"""Drift repair: a key changed behind the operator's back (seen by its watch) is put right within about a
second, and every ``RESYNC_SECONDS`` each object re-reads its key and its pods anyway.

A hand edit of the key (``etcdctl put``), a lost write or watch event, or pods recreated while an event was
missed are all repaired by the same idempotent reconcile.
"""

from __future__ import annotations

import time
from typing import Any

import kopf

from kubemaint_operator.handlers.indexes import readable
from kubemaint_operator.kube import GROUP, PLURAL, VERSION
from kubemaint_operator.model import MaintenanceObject
from kubemaint_operator.reconcile import Indexes, reconcile_object
from kubemaint_operator.runtime import runtime_of

TICK_SECONDS = 1.0


@kopf.timer(GROUP, VERSION, PLURAL, interval=TICK_SECONDS, id="drift", when=readable)
async def repair_drift(body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    runtime = runtime_of(memo)
    target = runtime.target_of(MaintenanceObject.from_body(body))
    if runtime.watches.take_dirty(target.identity):
        await reconcile_object(runtime, body, Indexes.from_kwargs(kwargs), reason="key changed")
        return
    last = runtime.reconciled_at.get(str(body.metadata.get("uid")), 0.0)
    if time.monotonic() - last >= runtime.settings.resync_seconds:
        await reconcile_object(runtime, body, Indexes.from_kwargs(kwargs), reason="resync")
