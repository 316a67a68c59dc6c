"""One reconcile of one Maintenance object: key, pods, acknowledgements, status and events.

Each object's daemon (:mod:`kubemaint_operator.handlers.follow`) runs it whenever it wakes, and the delete
handler runs :func:`release_object`; the outcome is the same however often it runs: the key is compared and
written only on change, pods are patched only when their condition differs, and the status only when a
field changed. A killed operator, or two replicas acting at once, therefore converge on the same state.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import kopf
from kubemaint.client import describe_error
from kubemaint.state import MaintenanceState, encode
from kubemaint.store import StateStore

from kubemaint_operator.etcd_clients import SecretError
from kubemaint_operator.events import transition_events
from kubemaint_operator.gates import PodView
from kubemaint_operator.labels import matches, selector_of
from kubemaint_operator.model import MaintenanceObject
from kubemaint_operator.notifications import NOTIFIED, cloud_event
from kubemaint_operator.participants import Indexes, desired_state
from kubemaint_operator.runtime import OperatorRuntime
from kubemaint_operator.status import Findings, ReplicaCount, build_status, count_replicas, status_patch
from kubemaint_operator.targets import EtcdTarget
from kubemaint_operator.windows import Phase, clock_phase

__all__ = [
    "KeySync",
    "Outcome",
    "reconcile_object",
    "release_object",
    "resync_target",
    "sync_target",
    "utcnow",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class KeySync:
    """The key after a sync: its revision, or the error that prevented reading or writing it."""

    revision: int | None
    state: MaintenanceState | None = None
    """The merge that the key holds (or should: ``error`` says why it may not)."""
    wrote: bool = False
    error: str | None = None
    reason: str = "EtcdUnavailable"
    """The ``EtcdSynced`` reason when ``error`` is set."""
    refused: bool = False
    """The operator may not use that etcd (an unapproved Secret): retrying cannot help."""


async def sync_target(
    runtime: OperatorRuntime, target: EtcdTarget, objects: Iterable[MaintenanceObject]
) -> KeySync:
    """Write the merge of ``objects`` to the key when the stored meaning differs; return its revision."""
    async with runtime.target_lock(target.identity):
        now = utcnow()
        desired = replace(desired_state(objects, now), updated_at=now)
        with runtime.watches.syncing(target.identity):
            try:
                revision, wrote = await _with_fresh_retry(
                    runtime, target, lambda writer: writer.put_if_changed(target.key, desired)
                )
            except SecretError as exc:
                return KeySync(None, desired, error=str(exc), reason=exc.reason, refused=exc.refused)
            except Exception as exc:
                return KeySync(None, desired, error=describe_error(exc))
            runtime.watches.synced(target.identity, revision)
    if wrote:
        log.info("wrote %s = %s at revision %d", target.key, desired.label, revision)
    try:
        runtime.watches.ensure(target.identity, await runtime.etcd.config_for(target), target.key)
    except Exception as exc:  # the periodic resync still repairs drift without the watch
        log.warning("cannot watch %s: %s", target.key, describe_error(exc))
    return KeySync(revision, desired, wrote=wrote)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one reconcile left: the status now in force, and whether a retry may mend something."""

    status: dict[str, Any]
    retry: bool = False
    """etcd, a pod patch or the acknowledgements failed for a reason that may pass (an outage)."""


async def reconcile_object(
    runtime: OperatorRuntime,
    body: kopf.Body,
    indexes: Indexes,
    previous: Mapping[str, Any],
    *,
    reason: str,
) -> Outcome:
    """Sync the key, the pods and the status of one object; ``previous`` is the status in force now (the
    last one this reconciler published, or the object's own when it has published none)."""
    obj = MaintenanceObject.from_body(body)
    async with runtime.object_lock(obj.uid):
        target = runtime.target_of(obj)
        key = await sync_target(runtime, target, indexes.sharing_key(target.identity, obj))
        pods = indexes.pods_of(obj.namespace)
        objects, at = indexes.sharing_namespace(obj), utcnow()
        # The stand-in first, for the gates about to close: once the kubelet has taken the last replica
        # out of the Service's slices, a Service without the stand-in in them has no endpoint at all.
        intended = runtime.gates.intended(pods, objects, at)
        stand_in_error = await _stand_in(runtime, obj, target, key, indexes, pods, intended)
        serving, gate_error = await runtime.gates.apply(pods, objects, at)
        if any(intended.get(name) != value for name, value in serving.items()):  # a patch failed
            stand_in_error = await _stand_in(runtime, obj, target, key, indexes, pods, serving)
        selector = selector_of(obj.spec)
        selected = [pod.name for pod in pods if matches(selector, dict(pod.labels))]
        now = utcnow()
        phase = clock_phase(obj.spec, now, was_active=bool(previous.get("activeSince")))
        replicas, ack_error = None, None
        if phase is Phase.ACTIVE and key.revision is not None:
            replicas, ack_error = await _replicas(runtime, target, key.revision)
        seen = Findings(
            phase=phase,
            key=target.key,
            revision=key.revision,
            etcd_error=key.error,
            etcd_reason=key.reason,
            replicas=replicas,
            ack_error=ack_error,
            pods_selected=len(selected),
            pods_gated=sum(1 for name in selected if serving.get(name) is False),
            gate_error=gate_error,
        )
        status = await _publish(runtime, body, obj, seen, previous, now)
    log.debug("reconciled %s (%s): %s", obj.source, reason, status.get("phase"))
    failed = (key.error is not None and not key.refused) or gate_error is not None or ack_error is not None
    if stand_in_error is not None:
        log.warning("%s: %s", obj.source, stand_in_error)
    return Outcome(status=status, retry=failed or stand_in_error is not None)


async def release_object(runtime: OperatorRuntime, body: Mapping[str, Any], indexes: Indexes) -> None:
    """The finalizer's work: end this object's part of the key and of the pods' gates before it goes."""
    obj = replace(MaintenanceObject.from_body(body), deleting=True)
    target = runtime.target_of(obj)
    async with runtime.object_lock(obj.uid):
        key = await sync_target(runtime, target, indexes.sharing_key(target.identity, obj))
        if key.refused:
            # Nothing may be written there any more, so waiting would hold the object forever.
            log.warning("releasing %s without updating %s: %s", obj.source, target.key, key.error)
        elif key.error is not None:
            raise kopf.TemporaryError(f"cannot end the maintenance in etcd yet: {key.error}", delay=2)
        pods = indexes.pods_of(obj.namespace)
        serving, gate_error = await runtime.gates.apply(pods, indexes.sharing_namespace(obj), utcnow())
        if gate_error is not None:
            raise kopf.TemporaryError(f"cannot restore the pods' readiness yet: {gate_error}", delay=2)
        # Not worth holding the object for: its owner reference lets the garbage collector remove it.
        stand_in_error = await _stand_in(runtime, obj, target, key, indexes, pods, serving)
        if stand_in_error is not None:
            log.warning("%s: %s", obj.source, stand_in_error)
    runtime.forget(obj.uid)
    if not indexes.others_on(target.identity, obj.uid):
        await runtime.watches.drop(target.identity)
    log.info("released %s: %s at revision %s", obj.source, target.key, key.revision)


async def resync_target(runtime: OperatorRuntime, obj: MaintenanceObject, indexes: Indexes) -> None:
    """Re-merge the key ``obj`` used to write (after its ``spec.etcd`` changed) without it."""
    gone = replace(obj, deleting=True)
    target = runtime.target_of(gone)
    others = indexes.others_on(target.identity, obj.uid)
    key = await sync_target(runtime, target, [*others, gone])
    if key.error is not None:
        raise kopf.TemporaryError(f"cannot update the previous key {target.key}: {key.error}", delay=2)
    if not others:
        await runtime.watches.drop(target.identity)


async def _stand_in(
    runtime: OperatorRuntime,
    obj: MaintenanceObject,
    target: EtcdTarget,
    key: KeySync,
    indexes: Indexes,
    pods: Iterable[PodView],
    serving: Mapping[str, bool],
) -> str | None:
    """Bring the stand-in EndpointSlice of the object's Service in line with the key and the gates."""
    if runtime.stand_ins is None or key.state is None:
        return None
    owners = [
        other
        for other in indexes.sharing_key(target.identity, obj)
        if other.namespace == obj.namespace and not other.deleting
    ]
    return await runtime.stand_ins.sync(
        obj.namespace,
        in_force=key.state.active_at(utcnow()),
        pods=[replace(pod, serving=serving.get(pod.name, pod.serving)) for pod in pods],
        key=target.key,
        value=encode(key.state),
        owners=owners,
    )


async def _replicas(
    runtime: OperatorRuntime, target: EtcdTarget, revision: int
) -> tuple[ReplicaCount | None, str | None]:
    try:
        acks = await _with_fresh_retry(runtime, target, lambda writer: writer.list_acks(target.key))
    except Exception as exc:
        return None, describe_error(exc)
    return count_replicas(acks, revision), None


async def _publish(
    runtime: OperatorRuntime,
    body: kopf.Body,
    obj: MaintenanceObject,
    seen: Findings,
    previous: Mapping[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """Patch the fields of ``status`` that changed since ``previous``; post an Event per transition."""
    status = build_status(obj, seen, previous, now)
    changes = status_patch(status, previous)
    if not changes:
        return status
    if not await runtime.kube.patch_maintenance_status(obj.namespace, obj.name, changes):
        return dict(previous)  # the object is gone
    for note in transition_events(previous, status, stand_in=runtime.stand_ins is not None):
        kopf.event(body, type=note.type, reason=note.reason, message=note.message)
        if runtime.notifier is not None and note.reason in NOTIFIED:
            runtime.notifier.send(cloud_event(obj.namespace, obj.name, obj.spec.service, note, status, now))
    return status


async def _with_fresh_retry(
    runtime: OperatorRuntime, target: EtcdTarget, call: Callable[[StateStore], Awaitable[T]]
) -> T:
    """Run ``call``; after a failure, once more on a new client (an expired auth token, a stale channel,
    rotated Secret material). A second failure is the caller's to report. Only the writer that failed is
    discarded, so a client another reconcile has just opened stays in use."""
    writer: StateStore | None = None
    try:
        writer = await runtime.etcd.writer(target)
        return await call(writer)
    except SecretError as exc:
        if exc.refused:
            raise
        await runtime.etcd.discard(target, writer)
    except Exception as exc:
        log.debug("etcd call for %s failed (%s); retrying on a new client", target.key, exc)
        await runtime.etcd.discard(target, writer)
    writer = None
    try:
        writer = await runtime.etcd.writer(target)
        return await call(writer)
    except Exception:
        await runtime.etcd.discard(target, writer)
        raise
