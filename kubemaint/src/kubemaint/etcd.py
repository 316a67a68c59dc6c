"""The etcd side of kubemaint in one import: connection settings, the source that follows a key, the writer.

``EtcdConfig`` and ``connect`` live in :mod:`kubemaint.client`, ``EtcdSource`` in :mod:`kubemaint.source`,
``EtcdWriter`` in :mod:`kubemaint.writer`, ``Ack`` in :mod:`kubemaint.acks`.
"""

from __future__ import annotations

from kubemaint.acks import Ack, ack_key, acks_prefix
from kubemaint.client import EtcdConfig, connect
from kubemaint.source import EtcdSource, Observation
from kubemaint.writer import EtcdWriter

__all__ = [
    "Ack",
    "EtcdConfig",
    "EtcdSource",
    "EtcdWriter",
    "Observation",
    "ack_key",
    "acks_prefix",
    "connect",
]
