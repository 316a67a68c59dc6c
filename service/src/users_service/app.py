"""The FastAPI application factory. Nothing is built at import time: :func:`create_app` builds the app
and its :class:`ServiceRuntime` from settings, and the lifespan starts and stops the runtime.

Middleware, outermost first: request metrics (counts every answer, 503s included), kubemaint's
maintenance middleware (503 + ``Retry-After``, ``X-Maintenance``, in-flight counting, bypass header), the
body limit (413), then FastAPI's own error handling.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from kubemaint.asgi import MaintenanceMiddleware

from users_service.body_limit import BodyLimitMiddleware
from users_service.problems import install_problem_handlers
from users_service.request_metrics import RequestMetricsMiddleware
from users_service.routers import debug, ops, users
from users_service.runtime import ServiceRuntime
from users_service.settings import Settings

__all__ = ["create_app"]

DESCRIPTION = """\
A users CRUD service on PostgreSQL that embeds kubemaint: while its etcd key says "maintenance" it answers
503 with `Retry-After`, drains in-flight requests and shrinks its database pool. Errors are
`application/problem+json`. `GET /users` is paginated with `limit` and the keyset cursor `after_id`.
"""


def create_app(settings: Settings) -> FastAPI:
    """Build the app for ``settings``; connections are made when the lifespan starts."""
    runtime = ServiceRuntime(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title="users-service", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.runtime = runtime
    install_problem_handlers(app)
    routers = [users.router, ops.router, *([debug.router] if settings.users_service_debug_slow else [])]
    for router in routers:
        app.include_router(router)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        MaintenanceMiddleware,
        manager=runtime.manager,
        skip_paths=settings.skip_paths,
        bypass_secret=settings.bypass_secret,
        page_template=settings.page_template,
        bypass_networks=settings.bypass_networks,
        trusted_proxies=settings.proxies,
    )
    # The routers' own routes (plain routes with templates), for requests answered before routing.
    routes = [route for router in routers for route in router.routes]
    app.add_middleware(RequestMetricsMiddleware, metrics=runtime.request_metrics, routes=routes)
    return app
