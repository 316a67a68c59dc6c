"""A Maintenance's life: reconcile on create, update and operator restart; end its part on delete.

The delete handler makes kopf hold a finalizer on every object, so an object never goes before its part
of the key and of the pods' gates has been ended, even when the operator was down at the time.
"""

from __future__ import annotations

from typing import Any

import kopf

from kubemaint_operator.kube import GROUP, PLURAL, VERSION
from kubemaint_operator.model import MaintenanceObject, SpecError
from kubemaint_operator.reconcile import Indexes, reconcile_object, release_object, resync_target
from kubemaint_operator.runtime import runtime_of


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
async def apply_maintenance(body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    """Write the key, gate the pods, publish the status."""
    try:
        await reconcile_object(runtime_of(memo), body, Indexes.from_kwargs(kwargs), reason="applied")
    except SpecError as exc:
        raise kopf.PermanentError(str(exc)) from None


@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
async def change_maintenance(body: kopf.Body, old: Any, memo: Any, **kwargs: Any) -> None:
    """Re-apply a changed spec; when ``spec.etcd`` moved the key, re-merge the old key without this object."""
    runtime = runtime_of(memo)
    indexes = Indexes.from_kwargs(kwargs)
    try:
        await reconcile_object(runtime, body, indexes, reason="updated")
        if isinstance(old, dict):
            before = MaintenanceObject.from_body({"metadata": dict(body.metadata), "spec": old})
            if runtime.target_of(before) != runtime.target_of(MaintenanceObject.from_body(body)):
                await resync_target(runtime, before, indexes)
    except SpecError as exc:
        raise kopf.PermanentError(str(exc)) from None


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def end_maintenance(body: kopf.Body, memo: Any, logger: kopf.Logger, **kwargs: Any) -> None:
    """Finalizer: the key is re-merged without this object and its pods serve again, then it may go.

    An object whose spec the operator cannot read (one the CRD should have refused, or one stored under an
    older, looser CRD) never took part in a merge, since the indexes leave it out: it goes at once, with a
    warning, rather than keep its finalizer until someone removes it by hand.
    """
    try:
        await release_object(runtime_of(memo), body, Indexes.from_kwargs(kwargs))
    except SpecError as exc:
        runtime_of(memo).forget(str(body.metadata.get("uid")))
        logger.warning("releasing a Maintenance whose spec cannot be read, without touching etcd: %s", exc)
