"""``GET /debug/slow``: holds a request open in a real ``pg_sleep``. Mounted only with
``USERS_SERVICE_DEBUG_SLOW=true`` (tests and benchmarks use it to keep a request in flight across a
maintenance flip); never enable it in production.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from users_service.dependencies import Repository

__all__ = ["router"]

router = APIRouter(prefix="/debug", tags=["debug"])


@router.get("/slow")
async def slow(users: Repository, seconds: Annotated[float, Query(ge=0, le=60)] = 1.0) -> dict[str, float]:
    """Sleep ``seconds`` inside PostgreSQL on a pooled connection, then answer."""
    await users.sleep(seconds)
    return {"slept": seconds}
