"""An HTTP CONNECT proxy on a unix socket: how the API server reaches the kubelet inside the node's
network namespace.

The node's addresses exist only in its namespace, and the host must not get a route to them. The API
server's egress selector (``EgressSelectorConfiguration``, the ``cluster`` egress over ``uds`` with
``HTTPConnect``) sends each connection to a node or pod through this proxy, which runs inside the
namespace and dials from there. A unix socket lives in the filesystem, which both sides share, so no
interface, route or firewall rule on the host is involved. Only addresses in ``--allow`` are dialled.

    python -m kubemaint_devstack.connect_proxy SOCKET --allow 10.213.0.0/24 --allow 10.244.0.0/16
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import os
from collections.abc import Sequence

log = logging.getLogger("connect-proxy")
_HEAD_LIMIT = 16 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def _target(request_line: str, allowed: Sequence[ipaddress.IPv4Network]) -> tuple[str, int]:
    """``CONNECT host:port HTTP/1.1`` -> (host, port), for an allowed IP address only."""
    method, authority, _ = request_line.split(" ", 2)
    if method != "CONNECT":
        raise ValueError(f"only CONNECT is served, not {method}")
    host, _, port = authority.rpartition(":")
    address = ipaddress.ip_address(host.strip("[]"))
    if not any(address in network for network in allowed):
        raise ValueError(f"{address} is not an address of the node")
    return str(address), int(port)


async def _serve(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, allowed: Sequence[ipaddress.IPv4Network]
) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > _HEAD_LIMIT:
            raise ValueError("request head too large")
        host, port = _target(head.split(b"\r\n", 1)[0].decode("latin-1"), allowed)
        upstream_reader, upstream_writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    except (ValueError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as exc:
        log.warning("refused: %s", exc)
        with contextlib.suppress(Exception):
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
            await writer.drain()
            writer.close()
        return
    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
    await writer.drain()
    await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))


async def _main(path: str, allowed: Sequence[ipaddress.IPv4Network]) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    server = await asyncio.start_unix_server(lambda r, w: _serve(r, w, allowed), path, limit=_HEAD_LIMIT)
    os.chmod(path, 0o600)
    log.info("serving CONNECT on %s for %s", path, ", ".join(map(str, allowed)))
    async with server:
        await server.serve_forever()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="connect-proxy", description=__doc__.splitlines()[0])
    parser.add_argument("socket")
    parser.add_argument("--allow", action="append", required=True, type=ipaddress.IPv4Network)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(_main(args.socket, args.allow))


if __name__ == "__main__":
    main()
