"""The configuration base of every kubemaint process (``kubemaint[settings]``, on pydantic-settings).

A process's settings class derives from :class:`EtcdSettings` (or :class:`EnvironmentSettings`) and adds
its own fields; the field name upper-cased is the variable. Values come from the environment only (no
.env file, no secrets directory), an empty variable counts as unset, and :meth:`EnvironmentSettings.load`
turns a validation failure into :class:`ConfigurationError`, whose message is one line naming the
variable and never a secret's value (:mod:`kubemaint.config_errors`).

The etcd variables, the same for the service and the operator: ``ETCD_ENDPOINTS`` (comma list, read by
the client's own parser), ``ETCD_CA_FILE``, ``ETCD_CERT_FILE``, ``ETCD_KEY_FILE``, ``ETCD_USERNAME``,
``ETCD_PASSWORD``, ``ETCD_TIMEOUT`` (seconds, default 2); and ``LOG_LEVEL``, ``LOG_FORMAT`` (``json`` |
``console``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar, cast

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from kubemaint.client import EtcdConfig, parse_endpoints
from kubemaint.config_errors import describe_errors

__all__ = [
    "MAX_PAGE_BYTES",
    "ConfigurationError",
    "EnvironmentSettings",
    "EtcdSettings",
    "LogFormat",
    "LogLevel",
    "read_page_file",
    "read_text_file",
]

MAX_PAGE_BYTES = 64 * 1024
"""The largest maintenance page template (``MAINTENANCE_PAGE_FILE``) a process accepts."""


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)]
LogFormat = Annotated[Literal["json", "console"], BeforeValidator(_lower)]


class ConfigurationError(Exception):
    """A bad environment variable; ``str()`` is one line naming it."""


class EnvironmentSettings(BaseSettings):
    """Settings read from the environment only; ``SECRET_FIELDS`` are never shown in an error."""

    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", frozen=True, env_ignore_empty=True
    )

    SECRET_FIELDS: ClassVar[frozenset[str]] = frozenset()

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

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Read and validate; raise :class:`ConfigurationError` with one line naming the variable.

        ``environ`` replaces the process environment (tests): only that mapping is read, never
        ``os.environ``.
        """
        try:
            if environ is None:
                return cls()
            names = set(cls.model_fields)
            values = {k.lower(): v for k, v in environ.items() if k.lower() in names and v != ""}
            return _mapping_only(cls).model_validate(values)
        except ValidationError as error:
            raise ConfigurationError(
                describe_errors(error.errors(include_url=False), cls.SECRET_FIELDS)
            ) from None


_MAPPING_ONLY: dict[type[EnvironmentSettings], type[EnvironmentSettings]] = {}
S = TypeVar("S", bound=EnvironmentSettings)


def _mapping_only(cls: type[S]) -> type[S]:
    """``cls`` reading its keyword arguments only: validation runs the settings sources too."""
    if cls not in _MAPPING_ONLY:

        def sources(
            _cls: type[BaseSettings],
            /,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            **_others: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings,)

        namespace: dict[str, Any] = {
            "settings_customise_sources": classmethod(sources),
            "__module__": cls.__module__,
        }
        _MAPPING_ONLY[cls] = type(f"_{cls.__name__}FromMapping", (cls,), namespace)
    return cast("type[S]", _MAPPING_ONLY[cls])


class EtcdSettings(EnvironmentSettings):
    """:class:`EnvironmentSettings` with the etcd variables and the :class:`EtcdConfig` they make."""

    SECRET_FIELDS: ClassVar[frozenset[str]] = frozenset({"etcd_password"})

    etcd_endpoints: str = "http://127.0.0.1:2379"
    etcd_ca_file: Path | None = None
    etcd_cert_file: Path | None = None
    etcd_key_file: Path | None = None
    etcd_username: str | None = None
    etcd_password: SecretStr | None = None
    etcd_timeout: float = Field(default=2.0, gt=0, le=60)

    @field_validator("etcd_endpoints")
    @classmethod
    def _check_endpoints(cls, value: str) -> str:
        """Read by the client's own parser, so a value accepted here is one the client takes."""
        return ",".join(str(endpoint) for endpoint in parse_endpoints(value))

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

    @model_validator(mode="after")
    def _check_etcd(self) -> Self:
        if "https://" in self.etcd_endpoints and self.etcd_ca_file is None:
            raise ValueError("ETCD_CA_FILE must be set for https:// ETCD_ENDPOINTS")
        if self.etcd_cert_file is not None and self.etcd_ca_file is None:
            raise ValueError("ETCD_CA_FILE must be set with ETCD_CERT_FILE")
        if (self.etcd_cert_file is None) != (self.etcd_key_file is None):
            raise ValueError("ETCD_CERT_FILE and ETCD_KEY_FILE must be set together")
        if (self.etcd_username is None) != (self.etcd_password is None):
            raise ValueError("ETCD_USERNAME and ETCD_PASSWORD must be set together")
        try:
            self.etcd_config()
        except ValueError as exc:
            raise ValueError(f"ETCD_ENDPOINTS / ETCD_*_FILE: {exc}") from None
        return self

    def etcd_config(self) -> EtcdConfig:
        """The etcd connection settings, built by the library from these variables."""
        return EtcdConfig.from_endpoints(
            self.etcd_endpoints,
            ca_file=str(self.etcd_ca_file) if self.etcd_ca_file else None,
            cert_file=str(self.etcd_cert_file) if self.etcd_cert_file else None,
            key_file=str(self.etcd_key_file) if self.etcd_key_file else None,
            username=self.etcd_username,
            password=self.etcd_password.get_secret_value() if self.etcd_password else None,
            timeout=self.etcd_timeout,
        )


def read_page_file(path: Path) -> str:
    """The page template in ``path`` (``MAINTENANCE_PAGE_FILE``): UTF-8, not empty, at most
    :data:`MAX_PAGE_BYTES`."""
    content = read_text_file(path)
    if not content.strip():
        raise ValueError(f"{str(path)!r} is empty")
    if len(content.encode("utf-8")) > MAX_PAGE_BYTES:
        raise ValueError(f"{str(path)!r} is larger than {MAX_PAGE_BYTES} bytes")
    return content


def read_text_file(path: Path) -> str:
    """``path`` as UTF-8; the error names the file and the reason, never the content."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path, or bytes that are not UTF-8
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ValueError(f"{str(path)!r} cannot be read ({reason})") from None
