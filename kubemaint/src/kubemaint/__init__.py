"""kubemaint: maintenance mode driven by an etcd key (the Python GoMaint).

The main names are importable from here; the ASGI middleware (``kubemaint.asgi``) and the asyncpg pool
handler (``kubemaint.pgpool``) are imported from their own modules, so the core needs neither.
"""

from __future__ import annotations

from kubemaint.acks import Ack
from kubemaint.client import EtcdConfig, connect
from kubemaint.manager import Handler, Manager, ManagerConfig, default_instance, start_with_etcd
from kubemaint.policy import LossPolicy
from kubemaint.source import EtcdSource, Observation
from kubemaint.state import OFF, MaintenanceState, Mode, StateParseError, encode, merge, parse
from kubemaint.writer import EtcdWriter

__all__ = [
    "OFF",
    "Ack",
    "EtcdConfig",
    "EtcdSource",
    "EtcdWriter",
    "Handler",
    "LossPolicy",
    "MaintenanceState",
    "Manager",
    "ManagerConfig",
    "Mode",
    "Observation",
    "StateParseError",
    "connect",
    "default_instance",
    "encode",
    "merge",
    "parse",
    "start_with_etcd",
]
