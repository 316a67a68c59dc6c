"""Phases by the clock and window boundaries (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from kubemaint_operator.model import MaintenanceSpec, SpecError, Window
from kubemaint_operator.windows import Phase, clock_phase, next_boundary

START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
END = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
SPEC = MaintenanceSpec(service="users", window=Window(start=START, end=END))


@pytest.mark.parametrize(
    ("moment", "phase"),
    [
        (START - timedelta(seconds=1), Phase.SCHEDULED),
        (START, Phase.ACTIVE),
        (END - timedelta(seconds=1), Phase.ACTIVE),
        (END, Phase.COMPLETED),
        (END + timedelta(days=1), Phase.COMPLETED),
    ],
)
def test_window_phase_follows_the_clock(moment: datetime, phase: Phase) -> None:
    assert clock_phase(SPEC, moment) is phase


def test_no_window_is_active_at_once() -> None:
    assert clock_phase(MaintenanceSpec(service="users"), START) is Phase.ACTIVE


def test_open_ended_windows() -> None:
    only_start = MaintenanceSpec(service="u", window=Window(start=START))
    only_end = MaintenanceSpec(service="u", window=Window(end=END))
    assert clock_phase(only_start, END + timedelta(days=9)) is Phase.ACTIVE
    assert clock_phase(only_end, START - timedelta(days=9)) is Phase.ACTIVE
    assert clock_phase(only_end, END) is Phase.COMPLETED


def test_disabled_is_pending_until_it_was_active_then_completed() -> None:
    spec = MaintenanceSpec(service="users", enabled=False)
    assert clock_phase(spec, START) is Phase.PENDING
    assert clock_phase(spec, START, was_active=True) is Phase.COMPLETED


def test_next_boundary() -> None:
    assert next_boundary(SPEC, START - timedelta(minutes=1)) == START
    assert next_boundary(SPEC, START) == END
    assert next_boundary(SPEC, END) is None
    assert next_boundary(MaintenanceSpec(service="users"), START) is None


def test_spec_from_dict_applies_crd_defaults() -> None:
    spec = MaintenanceSpec.from_dict({"service": "users"})
    assert spec == MaintenanceSpec(service="users")
    assert spec.enabled
    assert spec.gate
    assert spec.retry_after == 60


def test_spec_from_dict_reads_everything() -> None:
    spec = MaintenanceSpec.from_dict(
        {
            "service": "users",
            "enabled": False,
            "mode": "read-only",
            "reason": "r",
            "retryAfterSeconds": 5,
            "window": {"start": "2026-12-01T02:00:00Z", "end": "2026-12-01T03:00:00Z"},
            "readiness": {"gate": False, "selector": {"matchLabels": {"a": "b"}}},
            "etcd": {"endpoints": ["http://e:2379"], "key": "/k", "secretRef": {"name": "s"}},
        }
    )
    assert spec.window == Window(start=START, end=END)
    assert not spec.gate
    assert spec.selector is not None
    assert spec.selector.match_labels == (("a", "b"),)
    assert spec.etcd is not None
    assert spec.etcd.secret_name == "s"
    assert spec.etcd.key == "/k"


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"service": "u", "mode": "sideways"},
        {"service": "u", "window": {"start": "2026-12-01T03:00:00Z", "end": "2026-12-01T02:00:00Z"}},
        {"service": "u", "window": {"start": "yesterday"}},
    ],
)
def test_spec_the_crd_refuses_is_refused_here_too(spec: dict[str, object]) -> None:
    with pytest.raises(SpecError):
        MaintenanceSpec.from_dict(spec)
