"""``kubemaint-responder``: the maintenance responder's process, which the operator chart runs beside the
operator (same image, its own ServiceAccount that may only read EndpointSlices).

It serves :class:`kubemaint.responder.MaintenanceResponder` with uvicorn on every port of
``RESPONDER_PORTS`` and on ``RESPONDER_HEALTH_PORT`` (probes), and keeps the app's routes in line with
the operator's stand-in EndpointSlices (:mod:`kubemaint_operator.stand_in`), watched across the cluster:
each slice's port is the port its Service's clients arrive on here, and its ``kubemaint.io/value``
annotation is the text the operator wrote to the key. The responder holds no etcd credentials and
reaches nothing but the API server.

Settings (environment, one line naming a bad variable, exit 2): ``RESPONDER_PORTS`` (``20000-20063``, as
the operator's), ``RESPONDER_HOST`` (``0.0.0.0``: where the ports are bound), ``RESPONDER_HEALTH_PORT``
(8081), ``MAINTENANCE_PAGE_FILE`` (the page browsers get; default the library's), ``LOG_LEVEL``,
``LOG_FORMAT``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import uvicorn
from kubemaint.page import DEFAULT_PAGE
from kubemaint.responder import MaintenanceResponder
from kubemaint.settings import ConfigurationError, EnvironmentSettings, read_page_file
from kubemaint.state import MaintenanceState, StateParseError, parse
from pydantic import Field, PrivateAttr, field_validator, model_validator

from kubemaint_operator.kube import KubeClient, describe_api_error
from kubemaint_operator.settings import configure_logging, parse_port_range
from kubemaint_operator.stand_in import SELECTOR, VALUE_ANNOTATION

__all__ = ["ResponderSettings", "Routes", "main"]

log = logging.getLogger(__name__)

RELIST_SECONDS = 300
"""Each watch ends after this long and the slices are listed afresh."""
RETRY_SECONDS = 2.0


class ResponderSettings(EnvironmentSettings):
    """The configuration of one ``kubemaint-responder`` process."""

    responder_ports: str = "20000-20063"
    responder_host: str = "0.0.0.0"  # in a pod: the stood-in Services' clients arrive from anywhere
    responder_health_port: int = Field(default=8081, ge=1024, le=65535)
    maintenance_page_file: Path | None = None
    _page: str = PrivateAttr(default=DEFAULT_PAGE)

    @field_validator("responder_ports")
    @classmethod
    def _check_ports(cls, value: str) -> str:
        parse_port_range(value)
        return value

    @model_validator(mode="after")
    def _check(self) -> ResponderSettings:
        if self.responder_health_port in parse_port_range(self.responder_ports):
            raise ValueError("RESPONDER_HEALTH_PORT must not be one of RESPONDER_PORTS")
        if self.maintenance_page_file is not None:
            try:
                self._page = read_page_file(self.maintenance_page_file)
            except ValueError as exc:
                raise ValueError(f"MAINTENANCE_PAGE_FILE: {exc}") from None
        return self

    @property
    def page(self) -> str:
        return self._page


class Routes:
    """Responder port -> maintenance value, from the stand-in slices as the watch delivers them."""

    def __init__(self) -> None:
        self.table: dict[int, MaintenanceState] = {}
        self._slices: dict[str, tuple[int, MaintenanceState]] = {}
        self.loaded = False

    def replace_all(self, items: list[dict[str, Any]]) -> None:
        self._slices = {}
        for item in items:
            self._put(item)
        self.loaded = True
        self._rebuild()

    def apply(self, kind: str, item: Mapping[str, Any]) -> None:
        if kind == "DELETED":
            self._slices.pop(_uid(item), None)
        else:
            self._put(item)
        self._rebuild()

    def _put(self, item: Mapping[str, Any]) -> None:
        metadata = item.get("metadata") or {}
        ports = item.get("ports") or []
        if not ports or not ports[0].get("port"):
            return
        raw = (metadata.get("annotations") or {}).get(VALUE_ANNOTATION)
        try:
            state = parse(raw)
        except StateParseError as exc:  # only the operator writes it; answer a plain maintenance 503
            log.warning(
                "slice %s/%s: unusable value: %s", metadata.get("namespace"), metadata.get("name"), exc
            )
            state = MaintenanceState(enabled=True)
        self._slices[_uid(item)] = (int(ports[0]["port"]), state)

    def _rebuild(self) -> None:
        # A new dict, swapped in whole: a request never sees a table half updated.
        self.table = dict(self._slices.values())


def _uid(item: Mapping[str, Any]) -> str:
    metadata = item.get("metadata") or {}
    return str(metadata.get("uid") or f"{metadata.get('namespace')}/{metadata.get('name')}")


class _LiveRoutes(Mapping[int, MaintenanceState]):
    """The app's view of :attr:`Routes.table`, always the newest one."""

    def __init__(self, routes: Routes) -> None:
        self._routes = routes

    def __getitem__(self, port: int) -> MaintenanceState:
        return self._routes.table[port]

    def __iter__(self) -> Any:
        return iter(self._routes.table)

    def __len__(self) -> int:
        return len(self._routes.table)


async def follow_slices(kube: KubeClient, routes: Routes) -> None:
    """List the stand-in slices, then watch them; list again after each watch or failure."""
    while True:
        try:
            items, version = await kube.list_endpoint_slices_at(SELECTOR)
            routes.replace_all(items)
            async for kind, item in kube.watch_endpoint_slices(SELECTOR, version, RELIST_SECONDS):
                routes.apply(kind, item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("cannot follow the stand-in EndpointSlices (retrying): %s", describe_api_error(exc))
            await asyncio.sleep(RETRY_SECONDS)


def _listener(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


async def serve(settings: ResponderSettings) -> None:
    routes = Routes()
    app = MaintenanceResponder(
        _LiveRoutes(routes),
        health_port=settings.responder_health_port,
        ready=lambda: routes.loaded,
        page_template=settings.page,
    )
    ports = [settings.responder_health_port, *parse_port_range(settings.responder_ports)]
    sockets = [_listener(settings.responder_host, port) for port in ports]
    config = uvicorn.Config(app, lifespan="off", access_log=False, log_config=None, proxy_headers=False)
    kube = await KubeClient.connect()
    watcher = asyncio.create_task(follow_slices(kube, routes))
    log.info("kubemaint responder on ports %s, health on %d", settings.responder_ports, ports[0])
    try:
        await uvicorn.Server(config).serve(sockets=sockets)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await kube.close()


def main() -> None:
    try:
        settings = ResponderSettings.load()
    except ConfigurationError as exc:
        sys.stderr.write(f"kubemaint-responder: invalid configuration: {exc}\n")
        raise SystemExit(2) from None
    configure_logging(settings)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
