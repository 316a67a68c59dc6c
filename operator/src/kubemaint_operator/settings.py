"""The operator's configuration: its own fields on the library's settings base (:mod:`kubemaint.settings`:
environment only, one line naming a bad variable, secrets never shown).

* The ``ETCD_*`` variables of :class:`kubemaint.settings.EtcdSettings`: the etcd used when a Maintenance
  has no ``spec.etcd`` (the same names as the users service).
* ``MAINTENANCE_PREFIX`` (``/maintenance``): keys are ``<prefix>/<spec.service>``.
* ``WATCH_NAMESPACES``: comma list of namespaces to serve; empty serves the whole cluster.
* ``PEERING_NAME`` (``kubemaint-operator``); ``PEERING_PRIORITY`` (default: the process start time, so the
  newest replica leads and two never tie: kopf pauses every operator of a tie); ``PEERING_LIFETIME`` (60 s:
  how long a killed replica's entry keeps lower ones paused); ``STANDALONE`` (``false``; true: no peering).
* ``LIVENESS_ENDPOINT`` (``http://0.0.0.0:8080/healthz``; empty disables the probe server).
* ``RESYNC_SECONDS`` (30): how often each object re-checks its key, acknowledgements and pods even though
  nothing woke it. Every change the operator acts on wakes the object at once (see
  :mod:`kubemaint_operator.handlers.follow`); the resync only repairs what no event showed.
* ``NOTIFY_WEBHOOK_URL`` (unset: no notifications) and ``NOTIFY_WEBHOOK_SECRET`` (16+ characters,
  required with the URL): where each transition goes as a signed CloudEvent
  (:mod:`kubemaint_operator.notifications`). The administrator's choice, never an object's.
* ``RESPONDER_SERVICE`` (``namespace/name``; unset: no stand-in) and ``RESPONDER_PORTS`` (``20000-20063``):
  the maintenance responder's Service, whose ready pods a stand-in EndpointSlice points at while every
  replica of a Service is gated, and the ports it listens on, one per Service it stands in for
  (:mod:`kubemaint_operator.stand_in`).
* ``LOG_LEVEL``, ``LOG_FORMAT`` (``json`` | ``console``), from the base.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from typing import ClassVar, Self

import kopf
from kubemaint.settings import ConfigurationError, EnvironmentSettings, EtcdSettings
from kubemaint.state import DEFAULT_PREFIX
from pydantic import Field, SecretStr, field_validator, model_validator

__all__ = ["ConfigurationError", "OperatorSettings", "configure_logging", "load_settings", "parse_port_range"]


class OperatorSettings(EtcdSettings):
    """The whole configuration of one ``kubemaint-operator`` process."""

    SECRET_FIELDS: ClassVar[frozenset[str]] = frozenset({"etcd_password", "notify_webhook_secret"})

    maintenance_prefix: str = DEFAULT_PREFIX
    watch_namespaces: str = ""

    peering_name: str = Field(default="kubemaint-operator", min_length=1, max_length=253)
    peering_priority: int | None = Field(default=None, ge=0, le=2**31 - 1)
    peering_lifetime: int = Field(default=60, ge=5, le=3600)
    standalone: bool = False
    liveness_endpoint: str = "http://0.0.0.0:8080/healthz"
    resync_seconds: float = Field(default=30.0, ge=0.5, le=3600)
    notify_webhook_url: str = ""
    notify_webhook_secret: SecretStr | None = None
    responder_service: str = ""
    responder_ports: str = "20000-20063"

    @field_validator("maintenance_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if not value.startswith("/") or value != value.strip() or len(value) < 2:
            raise ValueError("must be an etcd key prefix starting with '/', e.g. /maintenance")
        return value.rstrip("/")

    @field_validator("liveness_endpoint")
    @classmethod
    def _check_liveness(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http://host:port/path URL, or empty to disable")
        return value

    @field_validator("notify_webhook_url")
    @classmethod
    def _check_webhook(cls, value: str) -> str:
        if value and (not value.startswith(("http://", "https://")) or any(c.isspace() for c in value)):
            raise ValueError("must be an http:// or https:// URL, or empty for no notifications")
        return value

    @field_validator("responder_service")
    @classmethod
    def _check_responder(cls, value: str) -> str:
        namespace, _, name = value.partition("/")
        if value and not (_DNS_LABEL.match(namespace) and _DNS_LABEL.match(name)):
            raise ValueError("must be namespace/name of the responder's Service, or empty for no stand-in")
        return value

    @field_validator("responder_ports")
    @classmethod
    def _check_ports(cls, value: str) -> str:
        parse_port_range(value)
        return value

    @property
    def responder_port_range(self) -> range:
        """The ports the responder listens on, one per Service it stands in for."""
        return parse_port_range(self.responder_ports)

    @model_validator(mode="after")
    def _check_webhook_secret(self) -> Self:
        secret = self.notify_webhook_secret.get_secret_value() if self.notify_webhook_secret else ""
        if self.notify_webhook_url and len(secret) < 16:
            raise ValueError("NOTIFY_WEBHOOK_SECRET must be set (16+ characters) with NOTIFY_WEBHOOK_URL")
        return self

    @property
    def namespaces(self) -> tuple[str, ...]:
        """Namespaces to serve; empty means the whole cluster."""
        return tuple(part.strip() for part in self.watch_namespaces.split(",") if part.strip())

    def choose_priority(self) -> int:
        """kopf peering priority: the configured one, else the start time in microseconds (plus a random
        tie-breaker), so the newest replica leads. A replica restarted after a crash therefore takes over
        at once instead of waiting out the dead one's peering lifetime, and two replicas never tie (kopf
        pauses every operator of a tie)."""
        if self.peering_priority is not None:
            return self.peering_priority
        return time.time_ns() // 1000 + secrets.randbelow(1000)


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def parse_port_range(value: str) -> range:
    """``first-last`` (inclusive) as a range of TCP ports; raises ValueError saying what is wrong."""
    first, _, last = value.partition("-")
    try:
        ports = range(int(first), int(last or first) + 1)
    except ValueError:
        raise ValueError("must be a port range first-last, e.g. 20000-20063") from None
    if not ports or ports.start < 1024 or ports.stop > 65536 or len(ports) > 1024:
        raise ValueError("must be first-last within 1024-65535, at most 1024 ports, first <= last")
    return ports


def configure_logging(settings: EnvironmentSettings) -> None:
    """kopf's logging setup (JSON in clusters, plain text locally) at ``LOG_LEVEL``."""
    kopf.configure(
        verbose=settings.log_level == "DEBUG",
        log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.PLAIN,
    )
    logging.getLogger().setLevel(settings.log_level)
    logging.getLogger("kubemaint_operator").setLevel(settings.log_level)


def load_settings(environ: dict[str, str] | None = None) -> OperatorSettings:
    """Read and validate the configuration (``environ`` replaces the process environment, for tests);
    raise :class:`ConfigurationError` with one line naming the variable."""
    return OperatorSettings.load(environ)
