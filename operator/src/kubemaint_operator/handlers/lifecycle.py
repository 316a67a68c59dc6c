"""A Maintenance's life around its daemon: refuse an unreadable spec, wake on a change, release on delete.

The daemon (:mod:`kubemaint_operator.handlers.follow`) does the work while the object lives. The delete
handler makes kopf hold a finalizer on every object, so an object never goes before its part of the key
and of the pods' gates has been ended, even when the operator was down at the time.
"""

from __future__ import annotations

from typing import Any

import kopf

from kubemaint_operator.handlers.indexes import readable
from kubemaint_operator.kube import GROUP, PLURAL, VERSION
from kubemaint_operator.model import MaintenanceObject, SpecError
from kubemaint_operator.participants import Indexes
from kubemaint_operator.reconcile import release_object, resync_target
from kubemaint_operator.runtime import runtime_of


def unreadable(body: kopf.Body, **kwargs: Any) -> bool:
    return not readable(body, **kwargs)


@kopf.on.resume(GROUP, VERSION, PLURAL, when=unreadable)
@kopf.on.create(GROUP, VERSION, PLURAL, when=unreadable)
def refuse_maintenance(body: kopf.Body, **_: Any) -> None:
    """An object the CRD should have refused (or stored under an older, looser CRD) gets no daemon; this
    says why, once, as a failed handler (a Warning Event on the object)."""
    try:
        MaintenanceObject.from_body(body)
    except SpecError as exc:
        raise kopf.PermanentError(str(exc)) from None


@kopf.on.update(GROUP, VERSION, PLURAL, field="spec", when=readable)
async def change_maintenance(body: kopf.Body, old: Any, memo: Any, **kwargs: Any) -> None:
    """Wake the daemon for the new spec; when ``spec.etcd`` moved the key, re-merge the old key without
    this object (the daemon writes the new one)."""
    runtime = runtime_of(memo)
    runtime.wakeups.wake(str(body.metadata.get("uid")))
    if not isinstance(old, dict):
        return
    try:
        before = MaintenanceObject.from_body({"metadata": dict(body.metadata), "spec": old})
    except SpecError:
        return  # the old spec took part in nothing
    if runtime.target_of(before) != runtime.target_of(MaintenanceObject.from_body(body)):
        await resync_target(runtime, before, Indexes.from_kwargs(kwargs))


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def end_maintenance(body: kopf.Body, memo: Any, logger: kopf.Logger, **kwargs: Any) -> None:
    """Finalizer: the key is re-merged without this object and its pods serve again, then it may go.

    An object whose spec the operator cannot read never took part in a merge, since the indexes leave it
    out: it goes at once, with a warning, rather than keep its finalizer until someone removes it by hand.
    """
    try:
        await release_object(runtime_of(memo), body, Indexes.from_kwargs(kwargs))
    except SpecError as exc:
        runtime_of(memo).forget(str(body.metadata.get("uid")))
        logger.warning("releasing a Maintenance whose spec cannot be read, without touching etcd: %s", exc)
