"""Whether one request is served during maintenance, and the 503 answer: pure, so it is unit-tested alone."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from kubemaint.state import MaintenanceState, Mode, covers, format_time

__all__ = [
    "BYPASS_COOKIE",
    "BYPASS_HEADER",
    "BYPASS_PATH",
    "DEFAULT_SKIP_PATHS",
    "PROBLEM_TYPE",
    "PROBLEM_TYPE_BASE",
    "SAFE_METHODS",
    "Decision",
    "Network",
    "bypass_cookie",
    "client_address",
    "decide",
    "in_networks",
    "is_skipped",
    "parse_networks",
    "problem_document",
    "route_path",
    "skip_matcher",
    "valid_bypass_cookie",
]

DEFAULT_SKIP_PATHS: Final = ("/health", "/livez", "/readyz", "/stats", "/metrics")
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
BYPASS_HEADER: Final = "x-maintenance-bypass"
BYPASS_PATH: Final = "/_maintenance/bypass"
"""Visiting ``<BYPASS_PATH>?secret=<the bypass secret>`` sets the bypass cookie (a browser's bypass)."""
BYPASS_COOKIE: Final = "kubemaint_bypass"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
PROBLEM_TYPE_BASE: Final = "urn:kubemaint:problem:"
"""The one scheme of problem ``type`` URIs in kubemaint and the services on it (``<base><slug>``): a URN,
since no site serves documents for them (RFC 9457 allows a non-resolvable URI)."""
PROBLEM_TYPE: Final = f"{PROBLEM_TYPE_BASE}maintenance"


@dataclass(frozen=True, slots=True)
class Decision:
    """``admit`` or not; ``counted``: the request takes part in draining (skip paths do not)."""

    admit: bool
    counted: bool
    bypassed: bool = False
    retry_after: int | None = None


def route_path(path: str, root_path: str = "") -> str:
    """The path inside the app: ``path`` without ``root_path`` when the app is mounted under that prefix.

    ASGI servers and Starlette 1.x put the full path (prefix included) in ``scope["path"]`` and the prefix
    in ``scope["root_path"]``; the prefix is removed only on a segment boundary (``/api`` from ``/api/x``,
    not from ``/apix``), and a path equal to the prefix is the app's root ``/``.
    """
    root = root_path.rstrip("/")
    if not root or not path.startswith(root):
        return path
    rest = path[len(root) :]
    if not rest:
        return "/"
    return rest if rest.startswith("/") else path


def skip_matcher(skip_paths: Iterable[str]) -> Callable[[str], bool]:
    """A test for "``path`` is one of ``skip_paths`` or below one" (``/metrics`` also covers ``/metrics/x``),
    prepared once: a set lookup and one ``str.startswith`` per request."""
    paths = tuple(skip_paths)
    exact = frozenset(paths)
    prefixes = tuple(skip.rstrip("/") + "/" for skip in paths)
    return lambda path: path in exact or path.startswith(prefixes)


def is_skipped(path: str, skip_paths: Iterable[str]) -> bool:
    """``path`` is one of ``skip_paths`` or below one (see :func:`skip_matcher`)."""
    return skip_matcher(skip_paths)(path)


def decide(
    state: MaintenanceState,
    *,
    method: str,
    path: str,
    now: datetime,
    skip_paths: Iterable[str] = DEFAULT_SKIP_PATHS,
    bypass_secret: bytes | None = None,
    bypass_value: bytes | None = None,
    bypass_cookie_value: str | None = None,
    client_trusted: bool = False,
) -> Decision:
    """Serve or answer 503. ``state`` is the state in force, as the manager decided it (expiry is its
    decision, not this function's); ``now`` dates ``retry_after`` and the bypass cookie. A path the value's
    ``paths`` do not cover is served and not counted (draining does not wait for what the maintenance
    leaves alone). Bypassed: a ``client_trusted`` (its address is in the bypass networks, see
    :func:`client_address`), the header secret or a valid bypass cookie; secrets compare in constant time;
    no secret configured, no header or cookie bypass."""
    if is_skipped(path, skip_paths):
        return Decision(admit=True, counted=False)
    if not state.enabled:
        return Decision(admit=True, counted=True)
    if not covers(state.paths, path):
        return Decision(admit=True, counted=False)  # outside the value's paths: served, and not drained
    if state.mode is Mode.READ_ONLY and method.upper() in SAFE_METHODS:
        return Decision(admit=True, counted=True)
    if client_trusted:
        return Decision(admit=True, counted=True, bypassed=True)
    if bypass_secret and bypass_value is not None and hmac.compare_digest(bypass_value, bypass_secret):
        return Decision(admit=True, counted=True, bypassed=True)
    if bypass_secret and bypass_cookie_value and valid_bypass_cookie(bypass_secret, bypass_cookie_value, now):
        return Decision(admit=True, counted=True, bypassed=True)
    return Decision(admit=False, counted=False, retry_after=state.retry_after_at(now))


def problem_document(state: MaintenanceState, now: datetime) -> dict[str, object]:
    """The ``application/problem+json`` body of a maintenance 503 (RFC 9457 plus the maintenance fields)."""
    if state.mode is Mode.READ_ONLY:
        detail = "The service is in read-only maintenance: only GET, HEAD and OPTIONS requests are served."
    else:
        detail = "The service is under maintenance."
    if state.reason:
        detail = f"{detail} Reason: {state.reason}"
    return {
        "type": PROBLEM_TYPE,
        "title": "Service under maintenance",
        "status": 503,
        "detail": detail,
        "reason": state.reason,
        "mode": state.mode.value,
        "until": format_time(state.until) if state.until else None,
        "retryAfter": state.retry_after_at(now),
        **({"statusPage": state.status_page} if state.status_page else {}),
        **({"paths": list(state.paths)} if state.paths is not None else {}),
    }


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """CIDRs (or single addresses) as networks; raises ``ValueError`` naming the first bad one."""
    networks: list[Network] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"{value.strip()!r} is not an IP network such as 10.0.0.0/8 or 2001:db8::/32"
            ) from None
    return tuple(networks)


def in_networks(address: Address | None, networks: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_address(
    peer: str | None, forwarded_for: str | None, trusted_proxies: Sequence[Network]
) -> Address | None:
    """The client's address: the socket's ``peer``; when that peer is a trusted proxy, the right-most
    ``X-Forwarded-For`` entry that is not itself a trusted proxy (proxies append, so entries left of the
    first untrusted one could be anything a client wrote). ``None`` when it is not an IP address."""
    address = _address(peer)
    if address is None or not forwarded_for or not in_networks(address, trusted_proxies):
        return address
    for entry in reversed(forwarded_for.split(",")):
        hop = _address(entry)
        if hop is None or not in_networks(hop, trusted_proxies):
            return hop
        address = hop
    return address  # every hop a trusted proxy: the left-most one


def bypass_cookie(secret: bytes, expires: int) -> str:
    """The bypass cookie's value until ``expires`` (Unix seconds): the time and its HMAC-SHA256."""
    return f"{expires}.{_cookie_mac(secret, expires)}"


def valid_bypass_cookie(secret: bytes, value: str, now: datetime) -> bool:
    """``value`` is a cookie made with ``secret`` that has not expired at ``now`` (constant-time compare)."""
    expires_text, _, mac = value.partition(".")
    if not expires_text.isdigit() or int(expires_text) <= now.timestamp():
        return False
    return hmac.compare_digest(mac.encode(), _cookie_mac(secret, int(expires_text)).encode())


def _cookie_mac(secret: bytes, expires: int) -> str:
    return hmac.new(secret, f"kubemaint-bypass:{expires}".encode(), hashlib.sha256).hexdigest()


def _address(text: str | None) -> Address | None:
    if not text:
        return None
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
