"""One daemon per Maintenance: the one thing that reconciles a live object, at the moments it must.

It reconciles when it starts (the object was created, or is seen again because the operator started or
took over the lead), then sleeps until the first of:

* the next window boundary (:func:`kubemaint_operator.windows.next_boundary`): a window opens and closes
  on time;
* a wake-up (:mod:`kubemaint_operator.wakeups`): the spec changed, the key changed behind the operator's
  back, an acknowledgement came or went (:mod:`kubemaint_operator.key_watches`), or a gated pod of the
  namespace came, went or had its gate set;
* a retry after a failure that may pass (etcd, a pod patch, the acknowledgements): 1 s, doubling to 15 s;
* the resync interval (``RESYNC_SECONDS``): re-read the key and the pods anyway, which repairs whatever no
  event showed.

In between it sends no request and logs nothing. kopf applies a daemon's ``patch`` only when the daemon
function returns, so this one, which lives as long as its object, publishes the status with its own
merge patch and keeps what it published (kopf's body shows it only once the watch delivers it). When the
operator pauses (another replica leads) kopf stops the daemon; a new one starts from the object's status.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import kopf

from kubemaint_operator.handlers.indexes import readable
from kubemaint_operator.kube import GROUP, PLURAL, VERSION, describe_api_error
from kubemaint_operator.model import MaintenanceObject
from kubemaint_operator.participants import Indexes
from kubemaint_operator.reconcile import Outcome, reconcile_object, utcnow
from kubemaint_operator.runtime import runtime_of
from kubemaint_operator.windows import next_boundary

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 15.0
_PAST_BOUNDARY = timedelta(milliseconds=50)
"""Wake just after a boundary, so the clock there already reads the new phase."""


@kopf.daemon(GROUP, VERSION, PLURAL, id="follow", when=readable, cancellation_timeout=10.0)
async def follow(
    body: kopf.Body, stopped: kopf.DaemonStopped, memo: Any, logger: kopf.Logger, **kwargs: Any
) -> None:
    runtime = runtime_of(memo)
    indexes = Indexes.from_kwargs(kwargs)
    uid = str(body.metadata.get("uid"))
    published: dict[str, Any] = dict(body.status)
    reason, retry = "started", FIRST_RETRY_SECONDS
    try:
        while not stopped:
            obj = MaintenanceObject.from_body(body)
            wake = runtime.wakeups.follow(uid, runtime.target_of(obj).identity, obj.namespace)
            wake.clear()
            try:
                outcome = await reconcile_object(runtime, body, indexes, published, reason=reason)
            except asyncio.CancelledError as exc:
                current = asyncio.current_task()
                if stopped or current is None or current.cancelling():
                    raise  # kopf stops this daemon
                # A CancelledError from inside a call (a gRPC channel closed under it) is a failure like
                # any other: retried, never the end of this object's daemon.
                logger.warning("reconcile failed, retrying in %.0f s: %s", retry, describe_api_error(exc))
                outcome = Outcome(status=published, retry=True)
            except Exception as exc:  # an API refusal or timeout: the status stays as published
                logger.warning("reconcile failed, retrying in %.0f s: %s", retry, describe_api_error(exc))
                outcome = Outcome(status=published, retry=True)
            published = outcome.status
            delay = runtime.settings.resync_seconds
            if outcome.retry:
                delay, retry = min(delay, retry), min(retry * 2, MAX_RETRY_SECONDS)
            else:
                retry = FIRST_RETRY_SECONDS
            now = utcnow()
            boundary = next_boundary(obj.spec, now)
            if boundary is not None:
                delay = min(delay, (boundary + _PAST_BOUNDARY - now).total_seconds())
            reason = await _sleep(wake, stopped, delay)
    finally:
        runtime.wakeups.forget(uid)
        if runtime.stand_ins is not None:  # whoever leads next looks its stand-in up afresh
            runtime.stand_ins.forget(str(body.metadata.get("namespace")))


async def _sleep(wake: asyncio.Event, stopped: kopf.DaemonStopped, seconds: float) -> str:
    """Sleep ``seconds`` unless woken or stopped first; say which it was (for the debug log)."""

    async def until_stopped() -> None:
        await stopped.wait()

    waiters = [asyncio.create_task(wake.wait()), asyncio.create_task(until_stopped())]
    try:
        await asyncio.wait(waiters, timeout=max(seconds, 0.0), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return "woken" if wake.is_set() else "timer"
