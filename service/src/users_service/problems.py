"""Errors as RFC 9457 ``application/problem+json``, and the handlers that produce them.

Every error the service answers goes through here: unknown id (404), duplicate email (409), invalid body
or id (422), body too large (413, from :mod:`users_service.body_limit`), database unavailable (503).
Bad input never yields a 500: a 500 means a bug, and its body says nothing about the cause.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Final

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from kubemaint.admission import PROBLEM_TYPE_BASE
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

__all__ = [
    "PROBLEM_JSON",
    "Problem",
    "database_unavailable",
    "install_problem_handlers",
    "is_database_unavailable",
    "problem_body",
    "problem_response",
]

log = logging.getLogger(__name__)

PROBLEM_JSON: Final = "application/problem+json"
TYPE_BASE: Final = (
    PROBLEM_TYPE_BASE  # one scheme with kubemaint's own 503 (urn:kubemaint:problem:maintenance)
)
DATABASE_RETRY_AFTER: Final = 5


class Problem(Exception):
    """An error answered as problem+json. ``slug`` names its ``type`` (``<TYPE_BASE><slug>``)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, object] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug
        self.headers = headers or {}
        self.extra = extra or {}


def problem_body(
    status: int, detail: str, *, slug: str | None = None, extra: dict[str, object] | None = None
) -> bytes:
    """The JSON body: ``type``, ``title``, ``status``, ``detail`` and any extension members."""
    document: dict[str, object] = {
        "type": f"{TYPE_BASE}{slug}" if slug else "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    document.update(extra or {})
    return json.dumps(document, separators=(",", ":"), default=str).encode()


def problem_response(problem: Problem) -> Response:
    return Response(
        problem_body(problem.status, problem.detail, slug=problem.slug, extra=problem.extra),
        status_code=problem.status,
        headers=problem.headers,
        media_type=PROBLEM_JSON,
    )


def database_unavailable(detail: str = "the database is unavailable, try again later") -> Problem:
    return Problem(
        503,
        detail,
        slug="database-unavailable",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
    )


# SQLSTATE classes that mean "the database cannot serve now", not "the request is wrong":
# 08 connection exception, 53 insufficient resources, 57 operator intervention (shutdown, cancel),
# 58 system error, 25006 read-only transaction (a standby during fail-over), 42P01 table missing (the
# schema is not created yet), 40001/40P01 serialization failure and deadlock (retryable).
_UNAVAILABLE_CLASSES: Final = frozenset({"08", "53", "57", "58"})
_UNAVAILABLE_STATES: Final = frozenset({"25006", "42P01", "40001", "40P01"})


def is_database_unavailable(exc: BaseException) -> bool:
    """True for errors that say the database is unreachable or not ready, rather than a bug."""
    if isinstance(exc, asyncpg.PostgresError):
        state = str(exc.sqlstate or "")
        return state[:2] in _UNAVAILABLE_CLASSES or state in _UNAVAILABLE_STATES
    # InternalClientError: asyncpg's protocol state on a connection the server has just terminated.
    return isinstance(exc, OSError | TimeoutError | asyncpg.InterfaceError | asyncpg.InternalClientError)


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json."""

    async def on_problem(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return problem_response(exc)

    async def on_http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 400:
            # FastAPI's only 400: a body it cannot decode (bytes that are not UTF-8). Invalid body is 422.
            return problem_response(
                Problem(422, "the request body could not be decoded", slug="invalid-request", headers=headers)
            )
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).description
        return problem_response(Problem(exc.status_code, detail, headers=headers))

    async def on_invalid_request(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": [str(part) for part in error.get("loc", ())], "msg": str(error.get("msg", ""))}
            for error in exc.errors()
        ]
        return problem_response(
            Problem(422, "the request is invalid", slug="invalid-request", extra={"errors": errors})
        )

    async def on_database_error(request: Request, exc: Exception) -> Response:
        if is_database_unavailable(exc):
            log.warning(
                "database unavailable: %s: %s", type(exc).__name__, exc, extra={"path": request.url.path}
            )
            return problem_response(database_unavailable())
        log.error("database error on %s", request.url.path, exc_info=exc)
        return problem_response(Problem(500, "internal error", slug="internal"))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    for error_type in (
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,
        OSError,
        TimeoutError,
    ):
        app.add_exception_handler(error_type, on_database_error)
