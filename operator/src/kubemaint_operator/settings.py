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
* ``LOG_LEVEL``, ``LOG_FORMAT`` (``json`` | ``console``), from the base.
"""

from __future__ import annotations

import secrets
import time
from typing import ClassVar, Self

from kubemaint.settings import ConfigurationError, EtcdSettings
from kubemaint.state import DEFAULT_PREFIX
from pydantic import Field, SecretStr, field_validator, model_validator

__all__ = ["ConfigurationError", "OperatorSettings", "load_settings"]


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


def load_settings(environ: dict[str, str] | None = None) -> OperatorSettings:
    """Read and validate the configuration (``environ`` replaces the process environment, for tests);
    raise :class:`ConfigurationError` with one line naming the variable."""
    return OperatorSettings.load(environ)
