"""How to reach etcd: the connection settings and the one function that opens a client.

The client is etcd3aio's (grpc.aio). It binds to the running event loop, so :func:`connect` must be called
from inside that loop, never at import time.

etcd3aio hands gRPC an ``ipv4:`` target, which takes IPv4 addresses only, so :func:`connect` resolves host
names itself (``etcd.platform.svc`` in a cluster) each time it opens a client: a name with several
addresses (a headless Service) gives one endpoint per address, and the long-lived users, which open a new
client after any failure, follow an etcd whose address changed. With TLS, the server certificate is checked
against the first endpoint's host name unless ``tls_server_name`` says otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from etcd3aio import Etcd3Client

if TYPE_CHECKING:
    from etcd3aio.kv import KVService
    from etcd3aio.lease import LeaseService
    from etcd3aio.watch import WatchService

__all__ = [
    "Endpoint",
    "EtcdConfig",
    "connect",
    "describe_error",
    "kv_of",
    "lease_of",
    "parse_endpoint",
    "parse_endpoints",
    "resolve_endpoints",
    "session",
    "watch_of",
]

WATCH_BACKOFF_START = 0.1
WATCH_BACKOFF_CAP = 1.0
"""etcd3aio resumes a broken watch stream by itself; its back-off is capped near one second."""


@dataclass(frozen=True, slots=True)
class EtcdConfig:
    """Where etcd is and how to authenticate. ``endpoints`` are ``host:port`` (a URL scheme is accepted)."""

    endpoints: tuple[str, ...] = ("127.0.0.1:2379",)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 2.0
    tls_server_name: str | None = None

    def __post_init__(self) -> None:
        if not self.endpoints:
            raise ValueError("at least one etcd endpoint is needed")
        if self.timeout <= 0:
            raise ValueError("the etcd timeout must be positive")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("an etcd client certificate needs both cert_file and key_file")
        if (self.cert_file is not None) and self.ca_file is None:
            raise ValueError("an etcd client certificate needs ca_file too")
        if self.username is not None and self.password is None:
            raise ValueError("an etcd username needs a password")

    @classmethod
    def from_endpoints(cls, endpoints: str | Iterable[str], **options: object) -> EtcdConfig:
        """Build from a comma list such as ``ETCD_ENDPOINTS`` (``http://a:2379,b:2379``) or a list of them.

        Each entry is read by :func:`parse_endpoint`. ``https://`` endpoints need ``ca_file``: etcd3aio
        only turns TLS on with a CA.
        """
        parsed = parse_endpoints(endpoints)
        if any(item.scheme == "https" for item in parsed) and options.get("ca_file") is None:
            raise ValueError("https etcd endpoints need a CA file (ca_file)")
        return cls(endpoints=tuple(item.address for item in parsed), **options)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, order=True)
class Endpoint:
    """One etcd endpoint, normalised: scheme ``http`` (the default) or ``https``, host lower-case, port.

    Two spellings of one server (``127.0.0.1:2379``, ``HTTP://127.0.0.1:2379/``) give equal endpoints;
    names are not resolved, so ``localhost`` and ``127.0.0.1`` stay different. The port is required, as
    etcd's own clients require it: no default is guessed.
    """

    host: str
    port: int
    scheme: str = "http"

    @property
    def address(self) -> str:
        """``host:port`` as the gRPC client takes it (an IPv6 host in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.address}"


def parse_endpoint(text: str) -> Endpoint:
    """Read ``host:port`` or ``http[s]://host:port[/]``; :class:`ValueError` names what is wrong.

    The one parser of endpoints: the settings of the service and of the operator, the CLI and the
    operator's ``spec.etcd`` all go through it, so a value accepted at start-up is one the client takes.
    """
    item = text.strip()
    url = urlsplit(item if "://" in item else f"http://{item}")
    problem = None
    if url.scheme.lower() not in ("http", "https"):
        problem = "the scheme must be http or https"
    elif url.path not in ("", "/") or url.query or url.fragment or "@" in url.netloc:
        problem = "only a scheme, a host and a port are allowed"
    elif not url.hostname or any(c.isspace() for c in item):
        problem = "a host is needed"
    if problem is None:
        try:
            port = url.port
        except ValueError:
            port, problem = None, "the port must be a number from 1 to 65535"
        else:
            if port is None:
                problem = "a port is needed, e.g. :2379"
            elif port == 0:
                problem = "the port must be a number from 1 to 65535"
    if problem is not None:
        raise ValueError(f"not an etcd endpoint ({problem}): {item!r}")
    assert url.hostname is not None
    assert port is not None
    return Endpoint(host=url.hostname.lower(), port=port, scheme=url.scheme.lower())


def parse_endpoints(endpoints: str | Iterable[str]) -> tuple[Endpoint, ...]:
    """Every endpoint of a comma list (or of a list of such), in order, each once; at least one."""
    texts = [endpoints] if isinstance(endpoints, str) else list(endpoints)
    items = [part for text in texts for part in text.split(",")]
    parsed: list[Endpoint] = []
    for item in items:
        if item.strip():
            endpoint = parse_endpoint(item)
            if endpoint not in parsed:
                parsed.append(endpoint)
    if not parsed:
        raise ValueError("no etcd endpoint given")
    return tuple(parsed)


async def connect(config: EtcdConfig) -> Etcd3Client:
    """Open a client inside the running loop; authenticates when ``username`` is set.

    A token expires after a while; long-lived users (the source, the ack publisher) open a new client
    after any failure, which authenticates again.
    """
    ca_cert = cert_chain = cert_key = None
    if config.ca_file is not None:
        ca_cert = await _read(config.ca_file)
        if config.cert_file is not None and config.key_file is not None:
            cert_chain = await _read(config.cert_file)
            cert_key = await _read(config.key_file)
    addresses, first_name = await resolve_endpoints(config.endpoints)
    client = Etcd3Client(
        addresses,
        watch_reconnect_backoff_seconds=WATCH_BACKOFF_START,
        watch_max_reconnect_backoff_seconds=WATCH_BACKOFF_CAP,
        tls_server_name=config.tls_server_name or (first_name if ca_cert is not None else None),
        ca_cert=ca_cert,
        cert_chain=cert_chain,
        cert_key=cert_key,
    )
    await client.connect()
    if config.username is not None:
        try:
            auth = client.auth
            assert auth is not None
            response = await auth.authenticate(config.username, config.password or "", timeout=config.timeout)
            client.set_token(response.token)
        except BaseException:
            await client.close()
            raise
    return client


@asynccontextmanager
async def session(config: EtcdConfig) -> AsyncIterator[Etcd3Client]:
    """A client connected within ``config.timeout``, closed on leaving: shielded from cancellation, within
    the timeout, its errors ignored (a session that failed has said why already). The followers' loops
    (the source, the operator's watches) open one per attempt."""
    async with asyncio.timeout(config.timeout):
        client = await connect(config)
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(config.timeout):
                await asyncio.shield(client.close())


async def resolve_endpoints(endpoints: Sequence[str]) -> tuple[list[str], str | None]:
    """The IPv4 ``address:port`` of every endpoint, host names resolved now, each address once; and the
    first host name given (None when every endpoint is an address).

    Raises :class:`OSError` when a name does not resolve (``socket.gaierror``) and :class:`ValueError` for
    an IPv6 endpoint, which etcd3aio cannot reach.
    """
    loop = asyncio.get_running_loop()
    addresses: list[str] = []
    first_name: str | None = None
    for text in endpoints:
        endpoint = parse_endpoint(text)
        try:
            literal = ipaddress.ip_address(endpoint.host)
        except ValueError:
            literal = None
        if literal is not None:
            if literal.version == 6:
                raise ValueError(f"etcd3aio reaches IPv4 addresses only, not {endpoint}")
            addresses.append(endpoint.address)
            continue
        first_name = first_name or endpoint.host
        try:
            found = await loop.getaddrinfo(endpoint.host, endpoint.port, family=socket.AF_INET,
                                           type=socket.SOCK_STREAM)  # fmt: skip
        except socket.gaierror as error:
            raise OSError(f"cannot resolve the etcd host {endpoint.host!r}: {error.strerror}") from error
        addresses += [f"{info[4][0]}:{endpoint.port}" for info in found]
    return list(dict.fromkeys(addresses)), first_name


async def _read(path: str) -> bytes:
    return await asyncio.to_thread(Path(path).read_bytes)


def kv_of(client: Etcd3Client) -> KVService:
    """The KV service of a connected client."""
    if client.kv is None:
        raise RuntimeError("etcd client is not connected")
    return client.kv


def lease_of(client: Etcd3Client) -> LeaseService:
    """The lease service of a connected client."""
    if client.lease is None:
        raise RuntimeError("etcd client is not connected")
    return client.lease


def watch_of(client: Etcd3Client) -> WatchService:
    """The watch service of a connected client."""
    if client.watch is None:
        raise RuntimeError("etcd client is not connected")
    return client.watch


def describe_error(exc: BaseException) -> str:
    """One line for a log or a CLI error: gRPC status and details, groups flattened, never a traceback."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe_error(inner) for inner in exc.exceptions)
    status = _grpc_status(exc)
    if status is not None:
        return status
    if isinstance(exc, TimeoutError):
        return "etcd did not answer in time"
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _grpc_status(exc: BaseException) -> str | None:
    """``grpc.aio.AioRpcError`` (duck-typed: grpc ships no type stubs) as ``CODE: details``."""
    code, details = getattr(exc, "code", None), getattr(exc, "details", None)
    if not (callable(code) and callable(details)):
        return None
    try:
        return f"etcd answered {code().name}: {details() or 'no details'}"
    except Exception:
        return None
