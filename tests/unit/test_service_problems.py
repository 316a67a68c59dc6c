"""Which errors mean "database unavailable" (503) rather than a bug, and the problem+json document."""

from __future__ import annotations

import json

import asyncpg
import pytest
from users_service.problems import is_database_unavailable, problem_body


def postgres_error(sqlstate: str) -> asyncpg.PostgresError:
    error_type = asyncpg.PostgresError.get_message_class_for_sqlstate(sqlstate)  # type: ignore[attr-defined]
    return error_type(f"error {sqlstate}")  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(),
        TimeoutError(),
        asyncpg.InterfaceError("pool is closing"),
        asyncpg.ConnectionDoesNotExistError("closed"),
        postgres_error("57P01"),  # admin shutdown
        postgres_error("57P03"),  # cannot connect now
        postgres_error("53300"),  # too many connections
        postgres_error("25006"),  # read-only transaction (a standby)
        postgres_error("42P01"),  # table missing: schema not created yet
    ],
)
def test_unavailable_errors_are_recognised(error: BaseException) -> None:
    assert is_database_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        postgres_error("23505"),
        postgres_error("42601"),
        postgres_error("22P02"),
        ValueError("bug"),
        KeyError("x"),
    ],
)
def test_bugs_are_not_called_unavailability(error: BaseException) -> None:
    assert not is_database_unavailable(error)


def test_a_problem_document_has_the_rfc_9457_members() -> None:
    document = json.loads(
        problem_body(409, "taken", slug="duplicate-email", extra={"email": "a@example.com"})
    )
    assert document == {
        "type": "urn:kubemaint:problem:duplicate-email",
        "title": "Conflict",
        "status": 409,
        "detail": "taken",
        "email": "a@example.com",
    }
    assert json.loads(problem_body(404, "nope"))["type"] == "about:blank"
