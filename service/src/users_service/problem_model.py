"""The problem+json document as a model, for the OpenAPI description of error responses only."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from users_service.problems import PROBLEM_JSON

__all__ = ["ProblemDocument", "problem_responses"]


class ProblemDocument(BaseModel):
    """RFC 9457 problem details; maintenance answers add ``reason`` and ``until``."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str


_DESCRIPTIONS = {
    404: "No user has this id.",
    409: "Another user already has this email.",
    413: "The request body is too large.",
    422: "The body or a parameter is invalid.",
    503: "Maintenance (with Retry-After, reason and until) or the database is unavailable.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status documented as problem+json."""
    schema = ProblemDocument.model_json_schema()
    return {
        status: {"description": _DESCRIPTIONS[status], "content": {PROBLEM_JSON: {"schema": schema}}}
        for status in statuses
    }
