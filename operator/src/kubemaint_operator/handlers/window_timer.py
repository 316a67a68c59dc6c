"""Window boundaries: a one-second timer per object acts as soon as the clock changes its phase.

The timer does no I/O unless the phase by the clock differs from the published one (a window opened or
closed, or a failed reconcile is being retried), so it stays cheap with many objects.
"""

from __future__ import annotations

from typing import Any

import kopf

from kubemaint_operator.handlers.indexes import readable
from kubemaint_operator.kube import GROUP, PLURAL, VERSION
from kubemaint_operator.model import MaintenanceSpec
from kubemaint_operator.reconcile import Indexes, reconcile_object, utcnow
from kubemaint_operator.runtime import runtime_of
from kubemaint_operator.windows import clock_phase

TICK_SECONDS = 1.0


@kopf.timer(GROUP, VERSION, PLURAL, interval=TICK_SECONDS, id="window", when=readable)
async def follow_window(body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    runtime = runtime_of(memo)
    published = runtime.statuses.published(body)
    spec = MaintenanceSpec.from_dict(body.spec)
    wanted = clock_phase(spec, utcnow(), was_active=bool(published.get("activeSince")))
    if published.get("phase") != wanted.value:
        await reconcile_object(runtime, body, Indexes.from_kwargs(kwargs), reason=f"window: {wanted.value}")
