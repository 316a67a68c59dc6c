"""kubemaint: maintenance mode driven by an etcd key (the Python GoMaint).

The main names are importable from here, lazily: ``import kubemaint.state`` (the value format, the merge,
the key convention) needs neither etcd3aio nor grpc, and ``from kubemaint import Manager`` imports the
etcd side only then. The ASGI middleware (``kubemaint.asgi``) and the asyncpg pool handler
(``kubemaint.pgpool``) are imported from their own modules, so the core needs neither.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubemaint.acks import Ack
    from kubemaint.client import EtcdConfig, connect
    from kubemaint.handler import Handler
    from kubemaint.manager import Manager, ManagerConfig, default_instance, start_with_etcd
    from kubemaint.policy import LossPolicy
    from kubemaint.source import EtcdSource, Observation
    from kubemaint.state import OFF, MaintenanceState, Mode, StateParseError, encode, key_for, merge, parse
    from kubemaint.store import StateStore

_HOMES = {
    "Ack": "acks",
    "EtcdConfig": "client",
    "connect": "client",
    "Handler": "handler",
    "Manager": "manager",
    "ManagerConfig": "manager",
    "default_instance": "manager",
    "start_with_etcd": "manager",
    "LossPolicy": "policy",
    "EtcdSource": "source",
    "Observation": "source",
    "OFF": "state",
    "MaintenanceState": "state",
    "Mode": "state",
    "StateParseError": "state",
    "encode": "state",
    "key_for": "state",
    "merge": "state",
    "parse": "state",
    "StateStore": "store",
}

__all__ = [
    "OFF",
    "Ack",
    "EtcdConfig",
    "EtcdSource",
    "Handler",
    "LossPolicy",
    "MaintenanceState",
    "Manager",
    "ManagerConfig",
    "Mode",
    "Observation",
    "StateParseError",
    "StateStore",
    "connect",
    "default_instance",
    "encode",
    "key_for",
    "merge",
    "parse",
    "start_with_etcd",
]


def __getattr__(name: str) -> Any:
    """Import a main name's module on first use (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'kubemaint' has no attribute {name!r}")
    return getattr(importlib.import_module(f"kubemaint.{home}"), name)
