"""The user as the API shows it, and the body a client sends to create or replace one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

__all__ = ["MAX_ID", "User", "UserIn"]

MAX_ID = 2**63 - 1
"""Ids are PostgreSQL ``bigint``; anything outside 1..MAX_ID is refused with 422 before any query."""


def _storable(value: str) -> str:
    """Refuse what PostgreSQL cannot store in a UTF-8 ``text`` (NUL, lone surrogates): a 422, not a 500."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _short_email(value: str) -> str:
    if len(value) > 255:
        raise ValueError("must be at most 255 characters")
    return value


Name = Annotated[
    str, Field(min_length=1, max_length=255), AfterValidator(_storable), AfterValidator(_not_blank)
]
Email = Annotated[EmailStr, AfterValidator(_storable), AfterValidator(_short_email)]


class UserIn(BaseModel):
    """The body of ``POST /users`` and ``PUT /users/{id}``: both fields required."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Ada Lovelace", "email": "ada@example.com"}]}
    )

    name: Name
    email: Email


class User(BaseModel):
    """A stored user. ``created_at`` and ``updated_at`` are set by the service."""

    id: int
    name: str
    email: str
    created_at: datetime
    updated_at: datetime
