"""The service's configuration: its own fields on the library's settings base (:mod:`kubemaint.settings`:
environment only, one line naming a bad variable, secrets never shown; the ``ETCD_*``, ``LOG_LEVEL`` and
``LOG_FORMAT`` variables are the base's).

Every variable of DESIGN.md ("The users service", Configuration) is a field here or in the base; the field
name upper-cased is the variable.

A few variables beyond DESIGN.md's list, each with a safe default:

* ``HOST`` (``0.0.0.0``): the address uvicorn binds.
* ``INSTANCE_NAME``: this replica's name in its acknowledgement key; default ``POD_NAME`` when set, else
  ``<hostname>-<pid>`` (kubemaint's default).
* ``MAX_BODY_BYTES`` (1 MiB): larger request bodies are refused with 413.
* ``MAINTENANCE_LOSS_GRACE`` (10 s): how long etcd may be lost before ``MAINTENANCE_ON_ETCD_LOSS`` applies.
* ``DB_PASSWORD_FILE``: a file holding the database password (a mounted Secret, as the official postgres
  image's ``POSTGRES_PASSWORD_FILE``), read once at start-up; trailing newlines are dropped. It keeps the
  password out of the process environment, where ``/proc/<pid>/environ``, crash reports and ``kubectl
  describe`` would show it. Setting it together with ``DB_PASSWORD`` is an error.
* ``MAINTENANCE_BYPASS_CIDRS``: a comma list of client networks always served during maintenance (the people
  doing it); ``TRUSTED_PROXIES``: the networks of proxies whose ``X-Forwarded-For`` names the client (else
  the client is the socket's peer, and that header is ignored). Both empty by default.
* ``MAINTENANCE_SKIP_PATHS``: a comma list of paths that maintenance never blocks, in addition to the probes
  and ops paths (``/health``, ``/livez``, ``/readyz``, ``/stats``, ``/metrics``); each covers the paths
  below it.
* ``MAINTENANCE_PAGE_FILE``: an HTML template for the maintenance page that browsers get (see
  :mod:`kubemaint.page` for its placeholders; the chart mounts it from a ConfigMap), read once at start-up;
  unset: the library's page. A missing, empty or larger than 64 KiB file stops start-up naming the variable.
* ``USERS_SERVICE_DEBUG_SLOW`` (false): enables ``GET /debug/slow?seconds=`` (a real ``pg_sleep`` on the
  database), used by the tests and benchmarks to hold a request open across a maintenance flip. Never set
  it in production.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final, Literal, Self

from kubemaint.admission import DEFAULT_SKIP_PATHS, parse_networks
from kubemaint.page import DEFAULT_PAGE
from kubemaint.settings import ConfigurationError, EtcdSettings, read_page_file, read_text_file
from kubemaint.state import key_for
from pydantic import BeforeValidator, Field, PrivateAttr, SecretStr, field_validator, model_validator

__all__ = ["ConfigurationError", "Settings", "load_settings"]

_DURATION: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")
_SERVICE_NAME: Final = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _duration_seconds(value: object) -> object:
    """Accept ``30``, ``2.5``, ``30s``, ``500ms`` or ``1m`` (Kubernetes users write units)."""
    if not isinstance(value, str):
        return value
    match = _DURATION.match(value)
    if match is None:
        raise ValueError("must be a number of seconds, optionally with a unit: 30, 30s, 500ms, 1m")
    number = float(match.group(1))
    unit = match.group(2) or "s"
    return number / 1000 if unit == "ms" else number * 60 if unit == "m" else number


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


Seconds = Annotated[float, BeforeValidator(_duration_seconds), Field(ge=0, le=3600)]
LossPolicyName = Annotated[Literal["last-known", "open", "closed"], BeforeValidator(_lower)]
PoolSize = Annotated[int, Field(ge=0, le=1000)]


class Settings(EtcdSettings):
    """The whole configuration of one ``users-service`` process."""

    SECRET_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"db_password", "etcd_password", "maintenance_bypass_secret"}
    )

    db_host: str = Field(default="localhost", min_length=1)
    db_port: int = Field(default=5432, ge=1, le=65535)
    db_user: str = Field(default="postgres", min_length=1)
    db_password: SecretStr = SecretStr("")
    db_password_file: Path | None = None
    db_name: str = Field(default="users", min_length=1, max_length=63)
    db_pool_min: PoolSize = 1
    db_pool_max: Annotated[int, Field(ge=1, le=1000)] = 10
    db_pool_maintenance_max: Annotated[int, Field(ge=1, le=1000)] = 1
    db_pool_readonly_max: Annotated[int, Field(ge=1, le=1000)] | None = None

    service_name: str = "users-service"
    maintenance_key: str | None = None
    drain_timeout: Seconds = 30.0
    maintenance_bypass_secret: SecretStr | None = None
    maintenance_on_etcd_loss: LossPolicyName = "last-known"
    maintenance_loss_grace: Seconds = 10.0
    maintenance_page_file: Path | None = None
    maintenance_skip_paths: str = ""
    maintenance_bypass_cidrs: str = ""
    trusted_proxies: str = ""
    readiness_follows_maintenance: bool = False
    seed_sample_data: bool = True

    host: str = Field(default="0.0.0.0", min_length=1)
    port: int = Field(default=8081, ge=1, le=65535)
    instance_name: str | None = None
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    users_service_debug_slow: bool = False

    # The password read from DB_PASSWORD_FILE at validation time, so that an unreadable file fails start-up
    # (one line, exit 2) instead of the first connection attempt.
    _file_password: SecretStr | None = PrivateAttr(default=None)
    _page: str = PrivateAttr(default=DEFAULT_PAGE)

    @field_validator("service_name")
    @classmethod
    def _check_service_name(cls, value: str) -> str:
        if not _SERVICE_NAME.match(value):
            raise ValueError("must be a DNS label: lower-case letters, digits and '-', at most 63")
        return value

    @field_validator("maintenance_key")
    @classmethod
    def _check_key(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or value != value.strip()):
            raise ValueError("must be a non-empty etcd key without surrounding space")
        return value

    @field_validator("maintenance_skip_paths")
    @classmethod
    def _check_skip_paths(cls, value: str) -> str:
        for path in _comma_list(value):
            if not path.startswith("/") or any(char.isspace() for char in path):
                raise ValueError(f"{path!r} is not a path: each must start with '/', without spaces")
        return value

    @field_validator("maintenance_bypass_cidrs", "trusted_proxies")
    @classmethod
    def _check_networks(cls, value: str) -> str:
        parse_networks(_comma_list(value))  # a ValueError names the bad entry
        return value

    @field_validator("instance_name")
    @classmethod
    def _no_instance_name(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _check_combinations(self) -> Self:
        if self.db_password_file is not None:
            if "db_password" in self.model_fields_set:
                raise ValueError("DB_PASSWORD_FILE and DB_PASSWORD are both set: set only one")
            try:
                self._file_password = SecretStr(_read_password_file(self.db_password_file))
            except ValueError as exc:
                raise ValueError(f"DB_PASSWORD_FILE: {exc}") from None
        if self.maintenance_page_file is not None:
            try:
                self._page = read_page_file(self.maintenance_page_file)
            except ValueError as exc:
                raise ValueError(f"MAINTENANCE_PAGE_FILE: {exc}") from None
        if self.db_pool_min > self.db_pool_max:
            raise ValueError(
                f"DB_POOL_MIN ({self.db_pool_min}) must not exceed DB_POOL_MAX ({self.db_pool_max})"
            )
        if self.db_pool_maintenance_max > self.db_pool_max:
            raise ValueError(
                f"DB_POOL_MAINTENANCE_MAX ({self.db_pool_maintenance_max}) must not exceed "
                f"DB_POOL_MAX ({self.db_pool_max})"
            )
        if self.db_pool_readonly_max is not None and self.db_pool_readonly_max > self.db_pool_max:
            raise ValueError(
                f"DB_POOL_READONLY_MAX ({self.db_pool_readonly_max}) must not exceed "
                f"DB_POOL_MAX ({self.db_pool_max})"
            )
        secret = self.maintenance_bypass_secret
        if secret is not None and 0 < len(secret.get_secret_value()) < 16:
            raise ValueError("MAINTENANCE_BYPASS_SECRET must be at least 16 characters (or unset)")
        return self

    @property
    def key(self) -> str:
        """The etcd key watched: ``MAINTENANCE_KEY``, default ``/maintenance/<SERVICE_NAME>``."""
        return self.maintenance_key or key_for(self.service_name)

    @property
    def bypass_secret(self) -> str | None:
        """The bypass secret, or ``None`` when unset or empty (no secret means no bypass)."""
        if self.maintenance_bypass_secret is None:
            return None
        return self.maintenance_bypass_secret.get_secret_value() or None

    @property
    def skip_paths(self) -> tuple[str, ...]:
        """The paths maintenance never blocks: the probes and ops paths, then ``MAINTENANCE_SKIP_PATHS``."""
        return (*DEFAULT_SKIP_PATHS, *_comma_list(self.maintenance_skip_paths))

    @property
    def bypass_networks(self) -> list[str]:
        return _comma_list(self.maintenance_bypass_cidrs)

    @property
    def proxies(self) -> list[str]:
        return _comma_list(self.trusted_proxies)

    @property
    def page_template(self) -> str:
        """The maintenance page template: ``MAINTENANCE_PAGE_FILE``'s content, else the library's page."""
        return self._page

    @property
    def password(self) -> SecretStr:
        """The database password: ``DB_PASSWORD_FILE``'s content when that is set, else ``DB_PASSWORD``."""
        return self._file_password if self._file_password is not None else self.db_password

    @property
    def database_params(self) -> dict[str, Any]:
        """Keyword arguments for ``asyncpg.connect`` (and the pool): where and as whom to connect."""
        return {
            "host": self.db_host,
            "port": self.db_port,
            "user": self.db_user,
            "password": self.password.get_secret_value() or None,
            "database": self.db_name,
        }

    @property
    def readonly_pool_max(self) -> int:
        return self.db_pool_max if self.db_pool_readonly_max is None else self.db_pool_readonly_max


def _read_password_file(path: Path) -> str:
    """The password in ``path`` without trailing newlines (as ``$(< file)`` in the postgres image reads it).

    The error names the file and the reason, never the content; an empty file is refused, since a mounted
    Secret without the key's value is a deployment mistake, not a wish for no password.
    """
    password = read_text_file(path).rstrip("\r\n")
    if not password:
        raise ValueError(f"{str(path)!r} is empty")
    return password


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read and validate the configuration (``environ`` replaces the process environment, for tests);
    raise :class:`ConfigurationError` with one line naming the variable."""
    return Settings.load(environ)


def _comma_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]
