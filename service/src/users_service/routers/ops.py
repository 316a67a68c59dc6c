"""Operations endpoints, never blocked by maintenance: ``/health``, ``/livez``, ``/readyz``, ``/stats``,
``/metrics``.

* ``/health`` is GoMaint-compatible: 200 ``{"status": "healthy", "maintenance": false, "handlers": {...},
  "timestamp": ...}``; 503 with the reason (and ``until``) during maintenance, 503 ``unhealthy`` when a
  handler reports itself unhealthy.
* ``/livez`` answers 200 while the process serves HTTP; it never looks at maintenance or the database.
* ``/readyz``: outside maintenance, 503 until the schema exists and while the database does not answer.
  During maintenance the database is not checked; readiness then follows maintenance only with
  ``READINESS_FOLLOWS_MAINTENANCE=true`` (in Kubernetes the operator's readiness gate does that job).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any, Final

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from kubemaint.state import format_time
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from users_service.dependencies import RuntimeDep
from users_service.problems import is_database_unavailable

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])

READINESS_DB_TIMEOUT: Final = 2.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@router.get("/health")
async def health(runtime: RuntimeDep) -> JSONResponse:
    state = runtime.manager.state
    handlers = runtime.manager.handler_health()
    body: dict[str, Any] = {
        "status": "healthy",
        "maintenance": state.enabled,
        "handlers": handlers,
        "timestamp": _now(),
    }
    if state.enabled:
        body.update(status="maintenance", mode=state.mode.value, reason=state.reason)
        body["until"] = format_time(state.until) if state.until else None
        return JSONResponse(body, status_code=503)
    if not all(handlers.values()):
        body["status"] = "unhealthy"
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)


@router.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "alive"}


@router.get("/readyz")
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    state = runtime.manager.state
    if state.enabled:
        if runtime.settings.readiness_follows_maintenance:
            return JSONResponse(
                {"status": "maintenance", "reason": state.reason, "database": "not checked"},
                status_code=503,
            )
        return JSONResponse({"status": "ready", "maintenance": True, "database": "not checked"})
    if not runtime.schema_ready:
        return JSONResponse({"status": "not ready", "database": "schema not created yet"}, status_code=503)
    try:
        async with asyncio.timeout(READINESS_DB_TIMEOUT):
            await runtime.users.ping()
    except Exception as exc:
        if not is_database_unavailable(exc):
            raise
        log.info("not ready: database unreachable: %s: %s", type(exc).__name__, exc)
        return JSONResponse({"status": "not ready", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ready", "maintenance": False, "database": "ok"})


@router.get("/stats")
async def stats(runtime: RuntimeDep) -> dict[str, object]:
    """Maintenance state and its revision and source, etcd connection, handlers, pool, in-flight work."""
    return runtime.stats()


@router.get("/metrics", response_class=Response)
async def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus text format."""
    return Response(generate_latest(runtime.registry), media_type=CONTENT_TYPE_LATEST)
