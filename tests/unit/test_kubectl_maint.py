"""What ``kubectl maint on`` asks the API server for: the Maintenance it builds from its flags (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kubemaint.cli import UsageError
from kubemaint.kubectl_maint import build_parser, manifest

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def _manifest(*argv: str) -> dict[str, object]:
    return manifest(build_parser().parse_args(["on", "users-service", *argv]), NOW)


def test_at_and_for_become_the_window() -> None:
    spec = _manifest("--at", "2026-12-01T03:00:00Z", "--for", "30m", "--read-only")["spec"]
    assert spec == {
        "service": "users-service",
        "mode": "read-only",
        "window": {"start": "2026-12-01T03:00:00Z", "end": "2026-12-01T03:30:00Z"},
    }


def test_the_defaults_name_the_object_and_label_it() -> None:
    obj = _manifest()
    assert obj["metadata"] == {
        "name": "users-service-maint",
        "labels": {"app.kubernetes.io/managed-by": "kubectl-maint"},
    }
    assert obj["spec"] == {"service": "users-service", "mode": "full"}


@pytest.mark.parametrize(
    "argv",
    [("--until", "2026-12-01T01:00:00Z"), ("--retry-after", "90000"), ("--path", "users"), ("--for", "soon")],
)
def test_bad_flags_are_usage_errors(argv: tuple[str, ...]) -> None:
    with pytest.raises(UsageError):
        _manifest(*argv)
