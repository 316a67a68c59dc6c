"""What the handlers share, kept in ``kopf.Memo`` (no module-level state)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import kopf
from kubemaint.client import Endpoint, parse_endpoints

from kubemaint_operator.etcd_clients import EtcdClients
from kubemaint_operator.gates import GateWriter
from kubemaint_operator.key_watches import KeyWatches
from kubemaint_operator.kube import KubeClient
from kubemaint_operator.model import MaintenanceObject
from kubemaint_operator.notifications import Notifier
from kubemaint_operator.peering_check import PeeringWatch
from kubemaint_operator.settings import OperatorSettings
from kubemaint_operator.stand_in import StandIns
from kubemaint_operator.targets import EtcdTarget, target_of
from kubemaint_operator.wakeups import Wakeups

__all__ = ["OperatorRuntime", "runtime_of"]


@dataclass
class OperatorRuntime:
    """Clients, settings, locks, the pods' gate writer, the key watches and the daemons' wake-ups."""

    settings: OperatorSettings
    kube: KubeClient
    etcd: EtcdClients
    wakeups: Wakeups = field(default_factory=Wakeups)
    gates: GateWriter = field(init=False)
    watches: KeyWatches = field(init=False)
    _target_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _object_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    own_endpoints: tuple[Endpoint, ...] = field(init=False)
    peering: PeeringWatch | None = None
    """Looks for kopf's peering object until it exists (``None``: standalone)."""
    notifier: Notifier | None = None
    """Sends transitions to ``NOTIFY_WEBHOOK_URL`` (``None``: not configured)."""
    stand_ins: StandIns | None = None
    """Stands in for fully gated Services (``None``: ``RESPONDER_SERVICE`` is not set)."""

    def __post_init__(self) -> None:
        self.own_endpoints = parse_endpoints(self.settings.etcd_endpoints)
        self.gates = GateWriter(self.kube)
        self.watches = KeyWatches(self.wakeups.wake_target, watchdog_interval=self.settings.resync_seconds)

    def target_of(self, obj: MaintenanceObject) -> EtcdTarget:
        """The etcd key ``obj`` writes, with this operator's prefix and own endpoints."""
        return target_of(obj, self.settings.maintenance_prefix, self.own_endpoints)

    def target_lock(self, identity: str) -> asyncio.Lock:
        """Serialises read-compare-write of one etcd key within this process."""
        return self._target_locks.setdefault(identity, asyncio.Lock())

    def object_lock(self, uid: str) -> asyncio.Lock:
        """Serialises the reconciles of one object (its daemon and its delete handler may overlap)."""
        return self._object_locks.setdefault(uid, asyncio.Lock())

    def forget(self, uid: str) -> None:
        """Drop what is kept about a deleted object."""
        self.wakeups.forget(uid)
        self._object_locks.pop(uid, None)

    async def close(self) -> None:
        if self.peering is not None:
            await self.peering.close()
        if self.notifier is not None:
            await self.notifier.close()
        if self.stand_ins is not None:
            await self.stand_ins.close()
        await self.watches.close()
        await self.etcd.close()
        await self.kube.close()


def runtime_of(memo: Any) -> OperatorRuntime:
    """The runtime that the startup handler put into the memo."""
    runtime = getattr(memo, "runtime", None)
    if not isinstance(runtime, OperatorRuntime):
        raise kopf.PermanentError("the operator runtime is not initialised (startup handler did not run)")
    return runtime
