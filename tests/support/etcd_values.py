"""The maintenance value as the tests read it back from etcd: the JSON object the operator writes, decoded
only as far as a dict (what it means is :mod:`kubemaint.state`'s business, not the tests')."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubemaint_devstack.etcd import EtcdServer


def decoded(raw: str | None) -> dict[str, Any] | None:
    """The JSON object of a raw value; None when the key is absent or holds no JSON (a hand-written
    ``on``, garbage)."""
    try:
        value: dict[str, Any] | None = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        return None
    return value


def value_of(etcd: EtcdServer, key: str) -> dict[str, Any] | None:
    """The decoded value of ``key`` on ``etcd`` now (see :func:`decoded`)."""
    return decoded(etcd.get(key))
