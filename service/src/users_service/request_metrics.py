"""A pure-ASGI middleware that counts requests and times them, by method, route template and status.

It sits outermost, so maintenance 503s, 413s and 422s are counted like any other answer. The route label is
the path template (``/users/{user_id}``), never the raw path, so its cardinality stays bounded. A request
answered before routing (a maintenance 503, a 413) is labelled with the template its path matches, so a
maintenance shows under the routes it refused; ``unmatched`` is left for paths no route knows.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestMetrics", "RequestMetricsMiddleware"]


class RequestMetrics:
    """The HTTP metrics of one app, registered in that app's own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "users_service_http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ("method", "route", "status"),
            registry=registry,
        )
        self.duration = Histogram(
            "users_service_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ("method", "route"),
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )


_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _method(scope: Scope) -> str:
    method = str(scope.get("method", ""))
    return method if method in _METHODS else "other"


def _route(scope: Scope, routes: Sequence[BaseRoute]) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    partial: str | None = None  # the path matches but not the method: the template is still known
    for candidate in routes:
        match, _ = candidate.matches(scope)
        template = getattr(candidate, "path", None)
        if not isinstance(template, str):
            continue
        if match is Match.FULL:
            return template
        if match is Match.PARTIAL and partial is None:
            partial = template
    return partial or "unmatched"


class RequestMetricsMiddleware:
    """``routes``: the app's routes, to label requests that were answered before routing."""

    def __init__(self, app: ASGIApp, *, metrics: RequestMetrics, routes: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            method = _method(scope)
            route = _route(scope, self.routes)
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.duration.labels(method, route).observe(time.perf_counter() - started)
