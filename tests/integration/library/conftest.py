"""Fixtures for the library's integration tests: a TCP forwarder to cut or freeze the path to etcd.

The forwarder is real networking between the real client and a real etcd (like toxiproxy): ``cut()``
resets every connection and refuses new ones, ``freeze()`` keeps the sockets open but stops moving bytes
(what a dead peer behind a stateful firewall looks like), ``heal()`` restores the path.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
from kubemaint_devstack.etcd import EtcdServer


class NetCut:
    """Forwards 127.0.0.1:<port> to ``target`` (``host:port``) until told otherwise."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self.target_host, self.target_port = host.replace("http://", ""), int(port)
        self.mode = "open"
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        self.mode = "cut"
        self._flowing.set()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def freeze(self) -> None:
        self.mode = "frozen"
        self._flowing.clear()

    def heal(self) -> None:
        self.mode = "open"
        self._flowing.set()

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "cut":
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update({writer, up_writer})
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await source.read(65536)
                if not data:
                    break
                await self._flowing.wait()
                if self.mode == "cut":
                    break
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            sink.transport.abort()
            self._writers.discard(sink)


@pytest.fixture
async def netcut() -> AsyncIterator[Callable[[EtcdServer], asyncio.Future[NetCut]]]:
    """``await netcut(server)``: a started forwarder to ``server``; all stopped after the test."""
    made: list[NetCut] = []

    async def make(server: EtcdServer) -> NetCut:
        proxy = NetCut(server.endpoint.removeprefix("http://"))
        await proxy.start()
        made.append(proxy)
        return proxy

    yield make  # type: ignore[misc]
    for proxy in made:
        await proxy.stop()
