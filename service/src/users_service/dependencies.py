"""Small ``Annotated`` dependencies: what a route needs, taken from the app's state built in the lifespan."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from users_service.repository import UserRepository

if TYPE_CHECKING:
    from users_service.runtime import ServiceRuntime

__all__ = ["Repository", "RuntimeDep"]


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def _repository(request: Request) -> UserRepository:
    return _runtime(request).users


Repository = Annotated[UserRepository, Depends(_repository)]
RuntimeDep = Annotated["ServiceRuntime", Depends(_runtime)]
