"""The maintenance value format: GoMaint words, JSON objects, malformed values and expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from kubemaint.state import (
    DEFAULT_RETRY_AFTER,
    OFF,
    MaintenanceState,
    Mode,
    StateParseError,
    encode,
    format_time,
    parse,
    parse_time,
    same_meaning,
)

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize("word", ["true", "1", "on", "enabled", "maintenance"])
@pytest.mark.parametrize("shape", ["{}", "{}\n", "  {}\t", "upper", "title"])
def test_every_gomaint_word_means_full_maintenance(word: str, shape: str) -> None:
    if shape == "upper":
        text = word.upper()
    elif shape == "title":
        text = word.title()
    else:
        text = shape.replace("{}", word)
    state = parse(text)
    assert state.enabled
    assert state.mode is Mode.FULL
    assert state.label == "on"


@pytest.mark.parametrize(
    "word", ["false", "0", "off", "disabled", "no", "yes", "maint", "truee", "[1]", "null"]
)
def test_any_other_word_means_off(word: str) -> None:
    assert parse(word) == OFF


@pytest.mark.parametrize("raw", [None, "", "   ", b"", "\n"])
def test_missing_or_empty_value_is_off(raw: str | bytes | None) -> None:
    assert parse(raw) == OFF


def test_bytes_are_read_like_text() -> None:
    assert parse(b"  TRUE\n").enabled


def test_json_object_with_every_field() -> None:
    state = parse(
        '{"enabled": true, "mode": "read-only", "reason": "Postgres 16 upgrade", "retryAfter": 300,'
        ' "until": "2026-12-01T03:00:00Z", "sources": ["default/db-upgrade"],'
        ' "updatedAt": "2026-12-01T01:00:00Z"}'
    )
    assert state == MaintenanceState(
        enabled=True,
        mode=Mode.READ_ONLY,
        reason="Postgres 16 upgrade",
        retry_after=300,
        until=datetime(2026, 12, 1, 3, 0, tzinfo=UTC),
        sources=("default/db-upgrade",),
        updated_at=datetime(2026, 12, 1, 1, 0, tzinfo=UTC),
    )
    assert state.label == "read-only"


def test_json_defaults_to_full_mode_and_ignores_unknown_fields() -> None:
    state = parse('{"enabled": true, "colour": "blue", "nested": {"x": 1}}')
    assert state == MaintenanceState(enabled=True)


def test_json_enabled_false_is_off_whatever_else_it_says() -> None:
    state = parse('{"enabled": false, "mode": "full", "reason": "done"}')
    assert not state.enabled
    assert state.label == "off"
    assert not state.active_at(NOW)


def test_json_null_optional_fields_are_accepted() -> None:
    state = parse('{"enabled": true, "reason": null, "until": null, "sources": null, "retryAfter": null}')
    assert state == MaintenanceState(enabled=True)


@pytest.mark.parametrize(
    "raw",
    [
        "{",
        '{"enabled": true',
        "{enabled: true}",
        '{"reason": "no enabled field"}',
        '{"enabled": "true"}',
        '{"enabled": 1}',
        '{"enabled": true, "mode": "partial"}',
        '{"enabled": true, "mode": 3}',
        '{"enabled": true, "reason": 42}',
        '{"enabled": true, "retryAfter": -1}',
        '{"enabled": true, "retryAfter": "60"}',
        '{"enabled": true, "retryAfter": true}',
        '{"enabled": true, "retryAfter": 1.5}',
        '{"enabled": true, "until": "tomorrow"}',
        '{"enabled": true, "until": "2026-12-01T03:00:00"}',
        '{"enabled": true, "until": 1764558000}',
        '{"enabled": true, "sources": "default/x"}',
        '{"enabled": true, "sources": [1]}',
    ],
)
def test_malformed_json_is_refused(raw: str) -> None:
    with pytest.raises(StateParseError):
        parse(raw)


def test_a_value_past_its_until_is_off() -> None:
    state = parse('{"enabled": true, "until": "2026-12-01T03:00:00Z"}')
    assert state.at(NOW) is state
    assert state.active_at(NOW + timedelta(minutes=59))
    assert state.at(datetime(2026, 12, 1, 3, 0, tzinfo=UTC)) == OFF
    assert state.at(NOW + timedelta(days=1)) == OFF


def test_until_with_an_offset_is_converted_to_utc() -> None:
    state = parse('{"enabled": true, "until": "2026-12-01T04:00:00+01:00"}')
    assert state.until == datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def test_retry_after_prefers_the_explicit_value_then_the_time_left() -> None:
    assert MaintenanceState(enabled=True, retry_after=300).retry_after_at(NOW) == 300
    until = MaintenanceState(enabled=True, until=NOW + timedelta(seconds=90.2))
    assert until.retry_after_at(NOW) == 91
    assert until.retry_after_at(NOW + timedelta(hours=1)) == 1
    assert MaintenanceState(enabled=True).retry_after_at(NOW) == DEFAULT_RETRY_AFTER


def test_encode_then_parse_gives_the_same_state() -> None:
    state = MaintenanceState(
        enabled=True,
        mode=Mode.READ_ONLY,
        reason="r",
        retry_after=30,
        until=NOW,
        sources=("a/b", "c/d"),
        updated_at=NOW - timedelta(minutes=1),
    )
    assert parse(encode(state)) == state
    assert parse(encode(OFF)) == OFF


def test_encode_is_stable_for_equal_states() -> None:
    a = MaintenanceState(enabled=True, reason="x", sources=("s",))
    b = MaintenanceState(enabled=True, reason="x", sources=("s",))
    assert encode(a) == encode(b)
    assert encode(a).startswith('{"enabled":true,"mode":"full"')


def test_same_meaning_ignores_only_updated_at() -> None:
    a = MaintenanceState(enabled=True, reason="x", updated_at=NOW)
    assert same_meaning(a, MaintenanceState(enabled=True, reason="x", updated_at=NOW + timedelta(hours=1)))
    assert not same_meaning(a, MaintenanceState(enabled=True, reason="y", updated_at=NOW))
    assert not same_meaning(a, MaintenanceState(enabled=True, mode=Mode.READ_ONLY, reason="x"))


def test_a_long_reason_is_truncated() -> None:
    state = parse('{"enabled": true, "reason": "' + "x" * 5000 + '"}')
    assert len(state.reason) == 1024


def test_times_are_formatted_like_kubernetes_writes_them() -> None:
    assert format_time(datetime(2026, 12, 1, 3, 0, 0, 123456, tzinfo=UTC)) == "2026-12-01T03:00:00Z"
    assert parse_time("2026-12-01T03:00:00z") == datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    with pytest.raises(StateParseError):
        parse_time("2026-12-01 03:00")
