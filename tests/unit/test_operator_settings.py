"""Operator settings: defaults, and one clear line for a bad variable."""

from __future__ import annotations

import pytest
from kubemaint_operator.settings import ConfigurationError, load_settings


def test_defaults() -> None:
    settings = load_settings({})
    assert settings.maintenance_prefix == "/maintenance"
    assert settings.etcd_config().endpoints == ("127.0.0.1:2379",)
    assert settings.namespaces == ()
    assert settings.log_format == "json"


def test_values_are_read() -> None:
    settings = load_settings(
        {
            "ETCD_ENDPOINTS": "http://a:2379,b:2379",
            "MAINTENANCE_PREFIX": "/maint/",
            "WATCH_NAMESPACES": "a, b",
        }
    )
    assert settings.etcd_config().endpoints == ("a:2379", "b:2379")
    assert settings.maintenance_prefix == "/maint"
    assert settings.namespaces == ("a", "b")


def test_newest_replica_gets_the_highest_priority_unless_set() -> None:
    first = load_settings({}).choose_priority()
    second = load_settings({}).choose_priority()
    assert second > first - 1000
    assert load_settings({"PEERING_PRIORITY": "7"}).choose_priority() == 7


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({"MAINTENANCE_PREFIX": "maintenance"}, "MAINTENANCE_PREFIX"),
        ({"ETCD_ENDPOINTS": "nohost"}, "ETCD_ENDPOINTS"),
        ({"ETCD_USERNAME": "u"}, "ETCD_USERNAME"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"RESYNC_SECONDS": "0"}, "RESYNC_SECONDS"),
        ({"ETCD_CA_FILE": "/nonexistent/ca.crt"}, "ETCD_CA_FILE"),
        ({"NOTIFY_WEBHOOK_URL": "hooks.example.com"}, "NOTIFY_WEBHOOK_URL"),
        ({"NOTIFY_WEBHOOK_URL": "https://hooks.example.com/x"}, "NOTIFY_WEBHOOK_SECRET"),
        ({"NOTIFY_WEBHOOK_URL": "https://h/x", "NOTIFY_WEBHOOK_SECRET": "short"}, "NOTIFY_WEBHOOK_SECRET"),
    ],
)
def test_bad_value_fails_with_one_line_naming_it(environ: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigurationError) as failed:
        load_settings(environ)
    message = str(failed.value)
    assert "\n" not in message
    assert names in message


def test_password_is_never_shown() -> None:
    with pytest.raises(ConfigurationError) as failed:
        load_settings({"ETCD_PASSWORD": "hunter2-secret", "ETCD_ENDPOINTS": "bad"})
    assert "hunter2-secret" not in str(failed.value)


def test_the_webhook_secret_is_never_shown() -> None:
    with pytest.raises(ConfigurationError) as failed:
        load_settings({"NOTIFY_WEBHOOK_URL": "https://h/x", "NOTIFY_WEBHOOK_SECRET": "tiny-hush"})
    assert "tiny-hush" not in str(failed.value)
    settings = load_settings({"NOTIFY_WEBHOOK_URL": "https://h/x", "NOTIFY_WEBHOOK_SECRET": "a" * 20})
    assert "a" * 20 not in repr(settings)
