"""Which requests the middleware serves during maintenance, and what a refused one gets back."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubemaint.admission import DEFAULT_SKIP_PATHS, decide, is_skipped, problem_document, route_path
from kubemaint.asgi import MaintenanceMiddleware
from kubemaint.state import OFF, MaintenanceState, Mode

from tests.support.asgi import StateView, app_ok, call

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
FULL = MaintenanceState(enabled=True, reason="Postgres 16 upgrade", retry_after=300)
READ_ONLY = MaintenanceState(enabled=True, mode=Mode.READ_ONLY, until=NOW + timedelta(seconds=120))


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
def test_everything_is_served_outside_maintenance(method: str) -> None:
    decision = decide(OFF, method=method, path="/users", now=NOW)
    assert decision.admit
    assert decision.counted


@pytest.mark.parametrize("method", ["GET", "POST", "HEAD", "OPTIONS"])
def test_full_maintenance_refuses_every_method(method: str) -> None:
    decision = decide(FULL, method=method, path="/users", now=NOW)
    assert not decision.admit
    assert decision.retry_after == 300


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "get"])
def test_read_only_serves_safe_methods(method: str) -> None:
    assert decide(READ_ONLY, method=method, path="/users/1", now=NOW).admit


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_read_only_refuses_writes_with_the_time_left_as_retry(method: str) -> None:
    decision = decide(READ_ONLY, method=method, path="/users/1", now=NOW)
    assert not decision.admit
    assert decision.retry_after == 120


@pytest.mark.parametrize("path", [*DEFAULT_SKIP_PATHS, "/metrics/extra", "/health/"])
def test_probe_stats_and_metrics_paths_are_never_blocked_nor_counted(path: str) -> None:
    decision = decide(FULL, method="POST", path=path, now=NOW)
    assert decision.admit
    assert not decision.counted


def test_a_path_that_only_starts_like_a_skip_path_is_blocked() -> None:
    assert not is_skipped("/healthcheck", DEFAULT_SKIP_PATHS)
    assert not decide(FULL, method="GET", path="/healthcheck", now=NOW).admit
    assert decide(FULL, method="GET", path="/custom", now=NOW, skip_paths=("/custom",)).admit


@pytest.mark.parametrize(
    ("path", "root_path", "expected"),
    [
        ("/api/health", "/api", "/health"),
        ("/api/v1/readyz", "/api/v1", "/readyz"),
        ("/api/v1/readyz", "/api/v1/", "/readyz"),
        ("/api", "/api", "/"),
        ("/health", "", "/health"),
        ("/health", "/api", "/health"),  # a server that already stripped the prefix
        ("/apix/health", "/api", "/apix/health"),  # not a segment boundary: not the prefix
    ],
)
def test_route_path_removes_the_mount_prefix(path: str, root_path: str, expected: str) -> None:
    assert route_path(path, root_path) == expected


def test_skip_paths_match_inside_a_mount_prefix() -> None:
    path = route_path("/prefix/health", "/prefix")
    assert decide(FULL, method="GET", path=path, now=NOW) == decide(
        FULL, method="GET", path="/health", now=NOW
    )
    assert decide(FULL, method="GET", path=path, now=NOW).admit
    assert not decide(FULL, method="GET", path=route_path("/prefix/users", "/prefix"), now=NOW).admit


def test_the_right_bypass_secret_lets_a_request_through() -> None:
    decision = decide(
        FULL, method="POST", path="/users", now=NOW, bypass_secret=b"s3cret", bypass_value=b"s3cret"
    )
    assert decision.admit
    assert decision.bypassed
    assert decision.counted


@pytest.mark.parametrize("value", [b"wrong", b"", b"s3cre", b"s3cret ", None])
def test_a_wrong_or_missing_bypass_secret_is_refused(value: bytes | None) -> None:
    assert not decide(
        FULL, method="POST", path="/users", now=NOW, bypass_secret=b"s3cret", bypass_value=value
    ).admit


def test_no_secret_configured_means_no_bypass() -> None:
    assert not decide(FULL, method="GET", path="/", now=NOW, bypass_secret=None, bypass_value=b"").admit


def test_expiry_is_the_managers_decision_not_the_admission_s() -> None:
    """At ``until`` the manager keeps the state in force until the pool is restored; decide() obeys it."""
    restoring = MaintenanceState(enabled=True, until=NOW - timedelta(seconds=1))
    decision = decide(restoring, method="DELETE", path="/users/1", now=NOW)
    assert not decision.admit
    assert decision.retry_after == 1, "past until, clients are told to come back at once"


def test_problem_document_carries_reason_until_and_retry() -> None:
    document = problem_document(READ_ONLY, NOW)
    assert document["status"] == 503
    assert document["until"] == "2026-12-01T02:02:00Z"
    assert document["retryAfter"] == 120
    assert set(document) >= {"type", "title", "status", "detail", "reason", "until", "retryAfter"}
    full = problem_document(FULL, NOW)
    assert full["reason"] == "Postgres 16 upgrade"
    assert "Postgres 16 upgrade" in str(full["detail"])
    assert full["until"] is None


async def test_middleware_answers_503_problem_json_with_retry_after() -> None:
    middleware = MaintenanceMiddleware(app_ok, StateView(FULL))
    status, headers, body = await call(middleware, "GET", "/users")
    assert status == 503
    assert headers[b"content-type"] == b"application/problem+json"
    assert headers[b"retry-after"] == b"300"
    assert headers[b"x-maintenance"] == b"on"
    document = json.loads(body)
    assert document["reason"] == "Postgres 16 upgrade"
    assert document["retryAfter"] == 300


async def test_middleware_labels_every_served_response() -> None:
    view = StateView(OFF)
    middleware = MaintenanceMiddleware(app_ok, view)
    assert (await call(middleware, "GET", "/users"))[1][b"x-maintenance"] == b"off"
    view.state = READ_ONLY.__class__(enabled=True, mode=Mode.READ_ONLY)
    status, headers, _ = await call(middleware, "GET", "/users")
    assert (status, headers[b"x-maintenance"]) == (200, b"read-only")
    view.state = FULL
    status, headers, _ = await call(middleware, "GET", "/livez")
    assert (status, headers[b"x-maintenance"]) == (200, b"on")


@pytest.mark.parametrize("probe", DEFAULT_SKIP_PATHS)
async def test_middleware_serves_probes_of_an_app_mounted_under_a_prefix(probe: str) -> None:
    middleware = MaintenanceMiddleware(app_ok, StateView(FULL))
    assert (await call(middleware, "GET", f"/svc{probe}", root_path="/svc"))[0] == 200
    assert (await call(middleware, "GET", "/svc/users", root_path="/svc"))[0] == 503


async def test_middleware_counts_requests_in_flight_until_the_app_returns() -> None:
    view = StateView(OFF)
    release = asyncio.Event()
    seen: list[tuple[int, int]] = []

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        seen.append((view.in_flight.count, view.in_flight.writes))
        await release.wait()
        await app_ok(scope, receive, send)

    middleware = MaintenanceMiddleware(slow, view)
    task = asyncio.create_task(call(middleware, "POST", "/users"))
    await asyncio.sleep(0.01)
    assert seen == [(1, 1)]
    assert not await view.in_flight.wait_idle(0.05)
    release.set()
    assert (await task)[0] == 200
    assert await view.in_flight.wait_idle(1.0)
    assert view.in_flight.count == 0


async def test_middleware_bypass_header_and_repr_hide_nothing_secret() -> None:
    middleware = MaintenanceMiddleware(app_ok, StateView(FULL), bypass_secret="s3cret")
    assert (await call(middleware, "POST", "/users", [(b"x-maintenance-bypass", b"s3cret")]))[0] == 200
    assert (await call(middleware, "POST", "/users", [(b"x-maintenance-bypass", b"nope")]))[0] == 503
    assert "s3cret" not in repr(middleware)


async def test_middleware_passes_other_scopes_through() -> None:
    calls: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        calls.append(scope["type"])

    await MaintenanceMiddleware(app, StateView(FULL))({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert calls == ["lifespan"]
