"""Small ``Annotated`` dependencies: what a route needs, taken from the app's state built in the lifespan."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from users_service.repository import UserRepository

if TYPE_CHECKING:
    from users_service.runtime import ServiceRuntime

__all__ = ["Repository", "RuntimeDep"]


# ``async def``, though they never await: FastAPI runs a plain ``def`` dependency in its thread pool, a
# thread hop per request that cost a third of the service's throughput (bench/service_throughput.py).
async def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


async def _repository(request: Request) -> UserRepository:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime.users


Repository = Annotated[UserRepository, Depends(_repository)]
RuntimeDep = Annotated["ServiceRuntime", Depends(_runtime)]
