"""The operator's configuration: one pydantic-settings class, read from the environment only.

The field name upper-cased is the variable. :func:`load_settings` turns a validation failure into
:class:`ConfigurationError`, whose message is one line naming the variable and never a secret's value.

* ``ETCD_ENDPOINTS`` (comma list), ``ETCD_CA_FILE``, ``ETCD_CERT_FILE``, ``ETCD_KEY_FILE``,
  ``ETCD_USERNAME``, ``ETCD_PASSWORD``, ``ETCD_TIMEOUT``: the etcd used when a Maintenance has no
  ``spec.etcd`` (same names as the users service).
* ``MAINTENANCE_PREFIX`` (``/maintenance``): keys are ``<prefix>/<spec.service>``.
* ``WATCH_NAMESPACES``: comma list of namespaces to serve; empty serves the whole cluster.
* ``PEERING_NAME`` (``kubemaint-operator``); ``PEERING_PRIORITY`` (default: the process start time, so the
  newest replica leads and two never tie: kopf pauses every operator of a tie); ``PEERING_LIFETIME`` (60 s:
  how long a killed replica's entry keeps lower ones paused); ``STANDALONE`` (``false``; true: no peering).
* ``LIVENESS_ENDPOINT`` (``http://0.0.0.0:8080/healthz``; empty disables the probe server).
* ``RESYNC_SECONDS`` (5): how often each object re-checks its key and pods (drift repair).
* ``LOG_LEVEL``, ``LOG_FORMAT`` (``json`` | ``console``).
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Annotated, Final, Literal, Self

from kubemaint.client import EtcdConfig
from kubemaint.config_errors import describe_errors
from kubemaint.state import DEFAULT_PREFIX
from pydantic import BeforeValidator, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = ["ConfigurationError", "OperatorSettings", "load_settings"]


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)]
LogFormat = Annotated[Literal["json", "console"], BeforeValidator(_lower)]


class OperatorSettings(BaseSettings):
    """The whole configuration of one ``kubemaint-operator`` process."""

    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", frozen=True, env_ignore_empty=True
    )

    etcd_endpoints: str = "http://127.0.0.1:2379"
    etcd_ca_file: Path | None = None
    etcd_cert_file: Path | None = None
    etcd_key_file: Path | None = None
    etcd_username: str | None = None
    etcd_password: SecretStr | None = None
    etcd_timeout: float = Field(default=2.0, gt=0, le=60)

    maintenance_prefix: str = DEFAULT_PREFIX
    watch_namespaces: str = ""

    peering_name: str = Field(default="kubemaint-operator", min_length=1, max_length=253)
    peering_priority: int | None = Field(default=None, ge=0, le=2**31 - 1)
    peering_lifetime: int = Field(default=60, ge=5, le=3600)
    standalone: bool = False
    liveness_endpoint: str = "http://0.0.0.0:8080/healthz"
    resync_seconds: float = Field(default=5.0, ge=0.5, le=3600)

    log_level: LogLevel = "INFO"
    log_format: LogFormat = "json"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment only (plus keyword arguments): no .env file, no secrets directory."""
        return init_settings, env_settings

    @field_validator("maintenance_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if not value.startswith("/") or value != value.strip() or len(value) < 2:
            raise ValueError("must be an etcd key prefix starting with '/', e.g. /maintenance")
        return value.rstrip("/")

    @field_validator("etcd_username")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("etcd_ca_file", "etcd_cert_file", "etcd_key_file")
    @classmethod
    def _readable_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{str(value)!r} is not a readable file")
        return value

    @field_validator("liveness_endpoint")
    @classmethod
    def _check_liveness(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http://host:port/path URL, or empty to disable")
        return value

    @model_validator(mode="after")
    def _check_etcd(self) -> Self:
        if (self.etcd_username is None) != (self.etcd_password is None):
            raise ValueError("ETCD_USERNAME and ETCD_PASSWORD must be set together")
        try:
            self.etcd_config()
        except ValueError as exc:
            raise ValueError(f"ETCD_ENDPOINTS / ETCD_*_FILE: {exc}") from None
        return self

    def etcd_config(self) -> EtcdConfig:
        """The etcd used for objects without ``spec.etcd``."""
        return EtcdConfig.from_endpoints(
            self.etcd_endpoints,
            ca_file=str(self.etcd_ca_file) if self.etcd_ca_file else None,
            cert_file=str(self.etcd_cert_file) if self.etcd_cert_file else None,
            key_file=str(self.etcd_key_file) if self.etcd_key_file else None,
            username=self.etcd_username,
            password=self.etcd_password.get_secret_value() if self.etcd_password else None,
            timeout=self.etcd_timeout,
        )

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


class _MappingSettings(OperatorSettings):
    """:class:`OperatorSettings` read from a given mapping only (tests), never from ``os.environ``."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


class ConfigurationError(Exception):
    """A bad environment variable; ``str()`` is one line naming it."""


_SECRET_FIELDS: Final = frozenset({"etcd_password"})


def _describe(error: ValidationError) -> str:
    return describe_errors(error.errors(include_url=False), _SECRET_FIELDS)


def load_settings(environ: dict[str, str] | None = None) -> OperatorSettings:
    """Read and validate the configuration; raise :class:`ConfigurationError` with one clear line.

    ``environ`` replaces the process environment (for tests); by default ``os.environ`` is read.
    """
    try:
        if environ is None:
            return OperatorSettings()
        # Validation runs the settings sources too: _MappingSettings has only the given mapping.
        return _MappingSettings.model_validate(
            {key.lower(): value for key, value in environ.items() if value != ""}
        )
    except ValidationError as exc:
        raise ConfigurationError(f"invalid configuration: {_describe(exc)}") from None
