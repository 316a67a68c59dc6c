"""A Maintenance object as the operator reads it: a frozen, typed view of ``spec`` (pure).

The CRD's schema and defaults have already been applied by the API server; the defaults here mirror them
so that an object read from an older server (or a unit test) means the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubemaint.client import parse_endpoints
from kubemaint.state import (
    DEFAULT_RETRY_AFTER,
    Mode,
    StateParseError,
    check_paths,
    check_status_page,
    parse_time,
)

__all__ = [
    "EtcdOverride",
    "LabelSelector",
    "MaintenanceObject",
    "MaintenanceSpec",
    "Requirement",
    "SpecError",
    "Window",
]


class SpecError(ValueError):
    """A spec that the CRD should have refused (the operator marks the object Failed)."""


@dataclass(frozen=True, slots=True)
class Window:
    """Active only from ``start`` (``None``: at once) until ``end`` (``None``: until deleted or disabled)."""

    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class Requirement:
    """One ``matchExpressions`` entry of a label selector."""

    key: str
    operator: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A Kubernetes label selector (``matchLabels`` and ``matchExpressions``)."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Requirement, ...] = ()


@dataclass(frozen=True, slots=True)
class EtcdOverride:
    """``spec.etcd``: another etcd, another key, and a Secret with its TLS material or credentials."""

    endpoints: tuple[str, ...] = ()
    key: str | None = None
    secret_name: str | None = None


@dataclass(frozen=True, slots=True)
class MaintenanceSpec:
    """``spec`` of a Maintenance, with the CRD's defaults."""

    service: str
    enabled: bool = True
    mode: Mode = Mode.FULL
    reason: str = ""
    retry_after: int = DEFAULT_RETRY_AFTER
    status_page: str | None = None
    paths: tuple[str, ...] | None = None
    window: Window | None = None
    gate: bool = True
    selector: LabelSelector | None = None
    etcd: EtcdOverride | None = None

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> MaintenanceSpec:
        """Read ``spec``; raises :class:`SpecError` for what the CRD should have refused."""
        service = spec.get("service")
        if not isinstance(service, str) or not service:
            raise SpecError("spec.service is required")
        try:
            mode = Mode(spec.get("mode", Mode.FULL.value))
        except ValueError:
            raise SpecError(f"spec.mode must be full or read-only, not {spec.get('mode')!r}") from None
        readiness = spec.get("readiness") or {}
        return cls(
            service=service,
            enabled=bool(spec.get("enabled", True)),
            mode=mode,
            reason=str(spec.get("reason") or ""),
            retry_after=int(spec.get("retryAfterSeconds", DEFAULT_RETRY_AFTER)),
            status_page=_status_page(spec.get("statusPage")),
            paths=_paths(spec.get("paths")),
            window=_window(spec.get("window")),
            gate=bool(readiness.get("gate", True)),
            selector=_selector(readiness.get("selector")),
            etcd=_etcd(spec.get("etcd")),
        )


@dataclass(frozen=True, slots=True)
class MaintenanceObject:
    """One Maintenance object: where it is, which generation, its spec, and whether it is being deleted."""

    namespace: str
    name: str
    spec: MaintenanceSpec
    generation: int = 0
    uid: str = ""
    deleting: bool = False

    @property
    def source(self) -> str:
        """``<namespace>/<name>``, as listed in the etcd value's ``sources``."""
        return f"{self.namespace}/{self.name}"

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> MaintenanceObject:
        """Read a whole object (``metadata`` and ``spec``)."""
        metadata = body.get("metadata") or {}
        return cls(
            namespace=str(metadata.get("namespace") or ""),
            name=str(metadata.get("name") or ""),
            spec=MaintenanceSpec.from_dict(body.get("spec") or {}),
            generation=int(metadata.get("generation") or 0),
            uid=str(metadata.get("uid") or ""),
            deleting=metadata.get("deletionTimestamp") is not None,
        )


def _paths(value: object) -> tuple[str, ...] | None:
    try:
        return check_paths(value)
    except StateParseError as exc:
        raise SpecError(f"spec.paths: {exc}") from None


def _status_page(value: object) -> str | None:
    try:
        return check_status_page(value)
    except StateParseError as exc:
        raise SpecError(f"spec.statusPage: {exc}") from None


def _time(value: object, name: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    try:
        return parse_time(str(value))
    except StateParseError as exc:
        raise SpecError(f"spec.window.{name}: {exc}") from None


def _window(value: object) -> Window | None:
    if not isinstance(value, Mapping):
        return None
    window = Window(start=_time(value.get("start"), "start"), end=_time(value.get("end"), "end"))
    if window.start is None and window.end is None:
        return None
    if window.start is not None and window.end is not None and window.end <= window.start:
        raise SpecError("spec.window.end must be after spec.window.start")
    return window


def _selector(value: object) -> LabelSelector | None:
    if not isinstance(value, Mapping):
        return None
    labels = value.get("matchLabels") or {}
    expressions = value.get("matchExpressions") or []
    return LabelSelector(
        match_labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        match_expressions=tuple(
            Requirement(
                key=str(item.get("key", "")),
                operator=str(item.get("operator", "")),
                values=tuple(str(v) for v in item.get("values") or ()),
            )
            for item in expressions
        ),
    )


def _etcd(value: object) -> EtcdOverride | None:
    if not isinstance(value, Mapping):
        return None
    secret = value.get("secretRef") or {}
    endpoints = tuple(str(e) for e in value.get("endpoints") or ())
    if endpoints:  # none: the operator's own etcd
        try:
            parse_endpoints(endpoints)  # what the client would refuse (the CRD's pattern cannot say it all)
        except ValueError as exc:
            raise SpecError(f"spec.etcd.endpoints: {exc}") from None
    return EtcdOverride(
        endpoints=endpoints,
        key=value.get("key") or None,
        secret_name=(secret.get("name") or None) if isinstance(secret, Mapping) else None,
    )
