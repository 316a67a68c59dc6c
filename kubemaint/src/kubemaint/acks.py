"""The acknowledgement format: what a replica writes at ``<key>/acks/<instance>`` after a transition.

Pure: building, encoding and reading the document. Writing it under a lease is :mod:`kubemaint.ack_publisher`.

Document: ``{"instance": "...", "revision": 1234, "maintenance": true, "mode": "full" | "read-only" | null,
"inFlight": 0, "drained": true, "source": "etcd", "at": "2026-12-01T02:00:03Z"}``. ``revision`` is the mod
revision of the maintenance value the replica applied (the revision an etcd writer got back), so a reader
knows which value a replica has acted on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubemaint.state import MaintenanceState, StateParseError, format_time, parse_time

__all__ = ["Ack", "ack_key", "acknowledges", "acks_prefix", "decode_ack", "encode_ack"]


def acks_prefix(key: str) -> str:
    """The prefix under which every replica of the service behind ``key`` acknowledges."""
    return f"{key.rstrip('/')}/acks/"


def ack_key(key: str, instance: str) -> str:
    """``<key>/acks/<instance>``."""
    if not instance or "/" in instance:
        raise ValueError(f"an instance name must be non-empty and without '/': {instance!r}")
    return acks_prefix(key) + instance


@dataclass(frozen=True, slots=True)
class Ack:
    """One replica's acknowledgement of the maintenance value at ``revision``."""

    instance: str
    revision: int
    maintenance: bool
    in_flight: int
    at: datetime | None = None
    mode: str | None = None
    drained: bool = True
    source: str = "etcd"

    @classmethod
    def of(
        cls,
        instance: str,
        revision: int,
        state: MaintenanceState,
        *,
        in_flight: int,
        drained: bool,
        source: str,
        at: datetime,
    ) -> Ack:
        """The acknowledgement of ``state`` (as applied) at ``revision``."""
        return cls(
            instance=instance,
            revision=revision,
            maintenance=state.enabled,
            in_flight=in_flight,
            at=at,
            mode=state.mode.value if state.enabled else None,
            drained=drained,
            source=source,
        )


def acknowledges(ack: Ack, revision: int, *, maintenance: bool) -> bool:
    """What "acknowledged" means, for the CLI's ``status`` and the operator's ``Drained`` alike.

    The replica applied the value at ``revision`` or a later one (``>=``: a newer write it already
    applied covers this one), is in the same state (in maintenance or not), and, in maintenance, has
    drained (its requests in flight finished; a timed-out drain does not count until it re-acks).
    """
    if ack.revision < revision or ack.maintenance != maintenance:
        return False
    return ack.drained or not maintenance


def encode_ack(ack: Ack) -> str:
    """The JSON document stored in etcd."""
    document: dict[str, Any] = {
        "instance": ack.instance,
        "revision": ack.revision,
        "maintenance": ack.maintenance,
        "mode": ack.mode,
        "inFlight": ack.in_flight,
        "drained": ack.drained,
        "source": ack.source,
        "at": format_time(ack.at) if ack.at is not None else None,
    }
    return json.dumps(document, separators=(",", ":"))


def decode_ack(instance: str, raw: bytes | str) -> Ack:
    """Read a stored acknowledgement; ``instance`` comes from the key. Raises :class:`StateParseError`."""
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StateParseError(f"acknowledgement of {instance!r} is not JSON") from exc
    if not isinstance(document, dict):
        raise StateParseError(f"acknowledgement of {instance!r} is not a JSON object")
    revision = document.get("revision")
    maintenance = document.get("maintenance")
    in_flight = document.get("inFlight", 0)
    if isinstance(revision, bool) or not isinstance(revision, int):
        raise StateParseError(f'acknowledgement of {instance!r}: "revision" must be a number')
    if not isinstance(maintenance, bool):
        raise StateParseError(f'acknowledgement of {instance!r}: "maintenance" must be true or false')
    if isinstance(in_flight, bool) or not isinstance(in_flight, int):
        raise StateParseError(f'acknowledgement of {instance!r}: "inFlight" must be a number')
    at = document.get("at")
    mode = document.get("mode")
    return Ack(
        instance=instance,
        revision=revision,
        maintenance=maintenance,
        in_flight=in_flight,
        at=parse_time(at) if isinstance(at, str) else None,
        mode=mode if isinstance(mode, str) else None,
        drained=bool(document.get("drained", in_flight == 0)),
        source=str(document.get("source", "etcd")),
    )
