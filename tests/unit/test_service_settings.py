"""Settings validation of the users service: defaults, derived values, and one clear line per bad variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from users_service.settings import ConfigurationError, load_settings


def _error(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(environ)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_defaults_follow_the_design() -> None:
    settings = load_settings({})
    assert settings.port == 8081
    assert settings.key == "/maintenance/users-service"
    assert settings.drain_timeout == 30.0
    assert settings.db_pool_maintenance_max == 1
    assert settings.readonly_pool_max == settings.db_pool_max
    assert settings.maintenance_on_etcd_loss == "last-known"
    assert settings.readiness_follows_maintenance is False
    assert settings.seed_sample_data is True
    assert settings.users_service_debug_slow is False
    assert settings.bypass_secret is None


def test_maintenance_key_defaults_to_the_service_name() -> None:
    assert load_settings({"SERVICE_NAME": "orders"}).key == "/maintenance/orders"
    assert load_settings({"MAINTENANCE_KEY": "/m/x"}).key == "/m/x"


def test_variable_names_are_case_insensitive_and_values_are_normalised() -> None:
    settings = load_settings(
        {"log_level": "debug", "LOG_FORMAT": "Console", "MAINTENANCE_ON_ETCD_LOSS": "CLOSED"}
    )
    assert (settings.log_level, settings.log_format) == ("DEBUG", "console")
    assert settings.maintenance_on_etcd_loss == "closed"


@pytest.mark.parametrize(
    ("value", "seconds"), [("30", 30.0), ("2.5", 2.5), ("45s", 45.0), ("500ms", 0.5), ("2m", 120.0)]
)
def test_drain_timeout_accepts_units(value: str, seconds: float) -> None:
    assert load_settings({"DRAIN_TIMEOUT": value}).drain_timeout == seconds


def test_empty_values_mean_unset() -> None:
    settings = load_settings(
        {"DB_POOL_READONLY_MAX": "", "ETCD_CA_FILE": "", "MAINTENANCE_BYPASS_SECRET": ""}
    )
    assert settings.db_pool_readonly_max is None
    assert settings.etcd_ca_file is None
    assert settings.bypass_secret is None


def test_endpoints_are_split_trimmed_and_normalised() -> None:
    settings = load_settings({"ETCD_ENDPOINTS": " http://A:2379 , b:2379,"})
    assert settings.etcd_endpoints == "http://a:2379,http://b:2379"
    assert settings.etcd_config().endpoints == ("a:2379", "b:2379")


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"DB_PORT": "abc"}, "DB_PORT"),
        ({"PORT": "0"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"DB_POOL_MAX": "0"}, "DB_POOL_MAX"),
        ({"DB_POOL_MIN": "-1"}, "DB_POOL_MIN"),
        ({"DB_POOL_MAINTENANCE_MAX": "0"}, "DB_POOL_MAINTENANCE_MAX"),
        ({"DRAIN_TIMEOUT": "soon"}, "DRAIN_TIMEOUT"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"MAINTENANCE_ON_ETCD_LOSS": "maybe"}, "MAINTENANCE_ON_ETCD_LOSS"),
        ({"READINESS_FOLLOWS_MAINTENANCE": "perhaps"}, "READINESS_FOLLOWS_MAINTENANCE"),
        ({"SEED_SAMPLE_DATA": "sometimes"}, "SEED_SAMPLE_DATA"),
        ({"ETCD_ENDPOINTS": "not a url"}, "ETCD_ENDPOINTS"),
        ({"ETCD_ENDPOINTS": "http://etcd"}, "ETCD_ENDPOINTS"),
        ({"SERVICE_NAME": "Users_Service"}, "SERVICE_NAME"),
        ({"ETCD_CA_FILE": "/does/not/exist.pem"}, "ETCD_CA_FILE"),
        ({"DB_POOL_MIN": "20", "DB_POOL_MAX": "10"}, "DB_POOL_MIN"),
        ({"DB_POOL_MAINTENANCE_MAX": "11"}, "DB_POOL_MAINTENANCE_MAX"),
        ({"DB_POOL_READONLY_MAX": "11"}, "DB_POOL_READONLY_MAX"),
        ({"ETCD_ENDPOINTS": "https://etcd:2379"}, "ETCD_CA_FILE"),
        ({"ETCD_USERNAME": "root"}, "ETCD_PASSWORD"),
        ({"MAINTENANCE_BYPASS_SECRET": "short"}, "MAINTENANCE_BYPASS_SECRET"),
        ({"MAINTENANCE_SKIP_PATHS": "/public,docs"}, "MAINTENANCE_SKIP_PATHS"),
        ({"MAINTENANCE_BYPASS_CIDRS": "10.0.0.0/8,office"}, "MAINTENANCE_BYPASS_CIDRS"),
        ({"TRUSTED_PROXIES": "10.0.0.0/33"}, "TRUSTED_PROXIES"),
    ],
)
def test_a_bad_variable_is_named_in_one_line(environ: dict[str, str], variable: str) -> None:
    assert variable in _error(environ)


@pytest.mark.parametrize("variable", ["DB_PASSWORD", "ETCD_PASSWORD", "MAINTENANCE_BYPASS_SECRET"])
def test_secrets_are_never_shown(variable: str) -> None:
    environ = {variable: "s3cret-value-0123456789"}
    if variable == "ETCD_PASSWORD":
        environ["ETCD_USERNAME"] = "root"
    settings = load_settings(environ)
    assert "s3cret-value-0123456789" not in repr(settings)
    assert "s3cret-value-0123456789" not in str(settings.model_dump())


def test_a_bad_secret_value_is_not_echoed() -> None:
    message = _error({"MAINTENANCE_BYPASS_SECRET": "tiny-secret"})
    assert "tiny-secret" not in message


def test_an_empty_instance_name_means_the_default() -> None:
    assert load_settings({"INSTANCE_NAME": "replica-a"}).instance_name == "replica-a"
    assert load_settings({"INSTANCE_NAME": ""}).instance_name is None


def test_the_password_file_replaces_the_password_variable(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-a-mounted-secret\n")  # `kubectl create secret --from-file` keeps a newline
    settings = load_settings({"DB_PASSWORD_FILE": str(secret)})
    assert settings.database_params["password"] == "from-a-mounted-secret"
    assert "from-a-mounted-secret" not in repr(settings)
    assert "from-a-mounted-secret" not in str(settings.model_dump())


def test_the_password_file_is_read_at_start_up_not_at_connection_time(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("first")
    settings = load_settings({"DB_PASSWORD_FILE": str(secret)})
    secret.write_text("second")
    assert settings.database_params["password"] == "first"


def test_password_and_password_file_together_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-the-file")
    message = _error({"DB_PASSWORD": "from-the-env", "DB_PASSWORD_FILE": str(secret)})
    assert "DB_PASSWORD_FILE" in message
    assert "DB_PASSWORD " in message
    assert "from-the-env" not in message
    assert "from-the-file" not in message


def test_an_empty_password_variable_does_not_conflict_with_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-the-file")
    settings = load_settings({"DB_PASSWORD": "", "DB_PASSWORD_FILE": str(secret)})
    assert settings.database_params["password"] == "from-the-file"


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("missing", None, "No such file or directory"),
        ("empty", "\n", "is empty"),
        ("directory", "<dir>", "Is a directory"),
        ("latin1", b"caf\xe9", "cannot be read"),
    ],
)
def test_an_unusable_password_file_is_one_line_naming_the_variable(
    tmp_path: Path, name: str, content: str | bytes | None, reason: str
) -> None:
    path = tmp_path / name
    if content == "<dir>":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    message = _error({"DB_PASSWORD_FILE": str(path)})
    assert message.startswith("DB_PASSWORD_FILE: "), message
    assert str(path) in message
    assert reason in message


def test_an_unreadable_password_file_does_not_show_its_content(tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_bytes(b"\xffsecret-bytes")
    message = _error({"DB_PASSWORD_FILE": str(path)})
    assert "secret-bytes" not in message


def test_skip_paths_add_to_the_probes_and_ops_paths() -> None:
    settings = load_settings({"MAINTENANCE_SKIP_PATHS": " /public , /docs,"})
    assert settings.skip_paths == ("/health", "/livez", "/readyz", "/stats", "/metrics", "/public", "/docs")
    assert load_settings({}).skip_paths == ("/health", "/livez", "/readyz", "/stats", "/metrics")
