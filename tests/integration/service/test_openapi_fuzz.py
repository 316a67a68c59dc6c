"""Fuzzing the OpenAPI document with schemathesis against the real service (a process on a real
PostgreSQL and etcd): no input, valid or not, may yield a 5xx.

Examples per operation are bounded (``FUZZ_EXAMPLES``), so the whole run stays well under two minutes.
The debug slow path is off here (it would only sleep).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from kubemaint_devstack.etcd import EtcdServer
from kubemaint_devstack.postgres import PostgresServer
from schemathesis import GenerationMode, checks

FUZZ_EXAMPLES = 150
# Besides "no 5xx", schemathesis' response checks run too: documented status codes and content types,
# response bodies and headers that match the schema, and invalid input rejected with a 4xx. Left out:
# "schema-valid data is accepted", because the service is stricter than JSON Schema can say, on purpose:
# email-validator refuses special-use domains (x@host.test), names must not be blank or hold NUL.
EXCLUDED_CHECKS = [checks.positive_data_acceptance]
PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class FuzzedService:
    url: str
    empty: Callable[[], object]
    """Delete every user (and restart the ids): each stateful scenario starts from the same state."""


@pytest.fixture(scope="module")
def fuzzed_service(
    postgres: PostgresServer,
    etcd: EtcdServer,
    tmp_path_factory: pytest.TempPathFactory,
    service_process_type: type[Any],
) -> Iterator[FuzzedService]:
    database = f"fuzz_{secrets.token_hex(4)}"
    postgres.create_database(database)
    env = {
        "DB_HOST": postgres.host,
        "DB_PORT": str(postgres.port),
        "DB_USER": postgres.user,
        "DB_PASSWORD": postgres.password,
        "DB_NAME": database,
        "ETCD_ENDPOINTS": etcd.endpoint,
        "MAINTENANCE_KEY": f"/maintenance/fuzz-{secrets.token_hex(4)}",
        "HOST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "console",
        "INSTANCE_NAME": "fuzz",
    }
    service = service_process_type(env, tmp_path_factory.mktemp("fuzz") / "users-service.log")
    try:
        service.wait_ready("/readyz")
        yield FuzzedService(
            service.url, lambda: postgres.psql("TRUNCATE users RESTART IDENTITY", database=database)
        )
        assert "Traceback" not in service.log(), service.log()
    finally:
        service.stop()
        postgres.drop_database(database)


@pytest.fixture(scope="module")
def api_schema(fuzzed_service: FuzzedService) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzzed_service.url}/openapi.json")


# schemathesis' own pytest integration (``from_fixture``) does not run on pytest 9 (it reads a removed
# node attribute), so each operation's strategy is driven by hypothesis directly.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_yields_a_server_error(api_schema: schemathesis.BaseSchema, mode: GenerationMode) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "GET /users",
        "POST /users",
        "GET /users/{user_id}",
        "PUT /users/{user_id}",
        "DELETE /users/{user_id}",
    }
    session = requests.Session()
    calls = 0
    for operation in operations:
        has_input = any(len(group) for group in (operation.path_parameters, operation.query, operation.body))
        if mode is GenerationMode.NEGATIVE and not has_input:
            continue  # nothing to make invalid (e.g. GET /livez)

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=FUZZ_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def answers_without_a_server_error(case: schemathesis.Case) -> None:
            nonlocal calls
            calls += 1
            response = case.call_and_validate(session=session, timeout=10, excluded_checks=EXCLUDED_CHECKS)
            described = (
                f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
            )
            assert response.status_code < 500, described
            if response.status_code >= 400 and case.method.upper() != "HEAD":
                assert response.headers.get("content-type") == [PROBLEM], described

        answers_without_a_server_error()
    assert calls >= 2 * FUZZ_EXAMPLES


STATEFUL_EXAMPLES = 40


def test_chained_calls_yield_no_server_error(
    api_schema: schemathesis.BaseSchema, fuzzed_service: FuzzedService
) -> None:
    """Stateful: sequences that use the ids the service gave out (POST /users, then GET, PUT and DELETE of
    that user; schemathesis infers the links from the schema), with the same checks as above. Each
    scenario starts on an empty table, so the same calls meet the same answers (hypothesis replays them)."""
    base = api_schema.as_state_machine()
    steps: list[str] = []

    class Machine(base):  # type: ignore[misc,valid-type]
        def setup(self) -> None:
            fuzzed_service.empty()

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"timeout": 10}

        def validate_response(self, response: Any, case: schemathesis.Case, **kwargs: Any) -> None:
            steps.append(f"{case.method} {case.path} -> {response.status_code}")
            described = (
                f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
            )
            assert response.status_code < 500, described
            case.validate_response(response, excluded_checks=EXCLUDED_CHECKS)

    Machine.run(
        settings=settings(
            max_examples=STATEFUL_EXAMPLES, stateful_step_count=6, deadline=None, database=None,
            suppress_health_check=list(HealthCheck),
        )
    )  # fmt: skip
    chained = [step for step in steps if "{user_id}" in step and not step.endswith("404")]
    print(f"{len(steps)} calls, {len(chained)} of them on a user path not answered 404")
    assert chained, f"no sequence reached an existing user: {steps[:20]}"
