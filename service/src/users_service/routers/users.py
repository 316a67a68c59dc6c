"""``/users``: list (keyset-paginated), create, read, replace, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from users_service.dependencies import Repository
from users_service.models import MAX_ID, User, UserIn
from users_service.problem_model import problem_responses
from users_service.problems import Problem
from users_service.repository import DuplicateEmailError

__all__ = ["router"]

router = APIRouter(prefix="/users", tags=["users"], responses=problem_responses(503))

UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="The user's id (a positive bigint).")]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size, 1..1000.")]
AfterId = Annotated[
    int,
    Query(
        ge=0,
        le=MAX_ID,
        description="Keyset cursor: return users whose id is greater than this (0 starts at the beginning).",
    ),
]


def _not_found(user_id: int) -> Problem:
    return Problem(404, f"no user with id {user_id}", slug="user-not-found")


def _duplicate(email: str) -> Problem:
    return Problem(409, f"another user already has the email {email}", slug="duplicate-email")


@router.get("", response_model=list[User], responses=problem_responses(422))
async def list_users(
    users: Repository, response: Response, limit: Limit = 100, after_id: AfterId = 0
) -> list[User]:
    """Users in id order. A full page carries ``Link: <...>; rel="next"`` to the following page."""
    page = await users.list(limit=limit, after_id=after_id)
    if len(page) == limit:
        response.headers["Link"] = f'</users?limit={limit}&after_id={page[-1].id}>; rel="next"'
    return page


@router.post("", status_code=201, response_model=User, responses=problem_responses(409, 413, 422))
async def create_user(body: UserIn, users: Repository, response: Response) -> User:
    """Create a user; answers 201 with the user and its ``Location``."""
    try:
        user = await users.create(body)
    except DuplicateEmailError:
        raise _duplicate(body.email) from None
    response.headers["Location"] = f"/users/{user.id}"
    return user


@router.get("/{user_id}", response_model=User, responses=problem_responses(404, 422))
async def get_user(user_id: UserId, users: Repository) -> User:
    user = await users.get(user_id)
    if user is None:
        raise _not_found(user_id)
    return user


@router.put("/{user_id}", response_model=User, responses=problem_responses(404, 409, 413, 422))
async def replace_user(user_id: UserId, body: UserIn, users: Repository) -> User:
    """Replace the user's name and email (both required); ``updated_at`` moves on."""
    try:
        user = await users.replace(user_id, body)
    except DuplicateEmailError:
        raise _duplicate(body.email) from None
    if user is None:
        raise _not_found(user_id)
    return user


@router.delete("/{user_id}", status_code=204, responses=problem_responses(404, 422))
async def delete_user(user_id: UserId, users: Repository) -> Response:
    if not await users.delete(user_id):
        raise _not_found(user_id)
    return Response(status_code=204)
