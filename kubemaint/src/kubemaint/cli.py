"""The ``kubemaint`` command: turn a service's maintenance on or off and see who has acknowledged it.

    kubemaint on SERVICE [--reason TEXT] [--for 30m | --until TIME] [--read-only] [--retry-after S]
                         [--status-page URL] [--path /users ...] [--at TIME]
    kubemaint off SERVICE
    kubemaint status SERVICE [--json]

Common options: ``--endpoints`` (else ``ETCD_ENDPOINTS``, else ``127.0.0.1:2379``), ``--prefix``
(``/maintenance``), ``--key`` (the full key instead of ``<prefix>/<SERVICE>``), ``--timeout``, and for TLS
``--cacert``, ``--cert``, ``--key-file`` (else ``ETCD_CA_FILE``, ``ETCD_CERT_FILE``, ``ETCD_KEY_FILE``;
``--key`` is taken by the maintenance key, so the client key is ``--key-file``).
Exit codes: 0 done, 1 etcd failed or the stored value is malformed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from etcd3aio import EtcdConnectionError

from kubemaint.acks import Ack, acknowledges
from kubemaint.client import EtcdConfig, describe_error
from kubemaint.state import (
    DEFAULT_PREFIX,
    MaintenanceState,
    Mode,
    StateParseError,
    check_paths,
    check_status_page,
    format_time,
    key_for,
    parse,
    parse_time,
)
from kubemaint.store import StateStore

__all__ = [
    "UsageError",
    "add_on_options",
    "build_parser",
    "main",
    "parse_duration",
    "window_end",
    "window_start",
]

CLI_SOURCE = "kubemaint-cli"
_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class UsageError(Exception):
    """Bad arguments (exit code 2)."""


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``2h``, ``1h30m``, ``1d``: a positive duration."""
    compact = text.strip().lower()
    parts = _DURATION.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise UsageError(f"not a duration (like 90s, 30m, 1h30m): {text!r}")
    seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise UsageError(f"the duration must be positive: {text!r}")
    return timedelta(seconds=seconds)


def add_on_options(on: argparse.ArgumentParser) -> None:
    """What a maintenance says, the same for ``kubemaint on`` and ``kubectl maint on``."""
    on.add_argument("--reason", default="", help="shown to clients")
    on.add_argument("--at", default=None, help="start at this RFC 3339 time (each replica waits for it)")
    window = on.add_mutually_exclusive_group()
    window.add_argument("--for", dest="duration", default=None, help="end after this long (30m, 2h)")
    window.add_argument("--until", default=None, help="end at this RFC 3339 time")
    on.add_argument("--read-only", action="store_true", help="serve GET/HEAD/OPTIONS, refuse writes")
    on.add_argument("--retry-after", type=int, default=None, help="Retry-After seconds for clients")
    on.add_argument("--status-page", default=None, help="http(s) URL where people follow the maintenance")
    on.add_argument(
        "--path", dest="paths", action="append", default=None,
        help="cover only this path and below ('*' is one segment); repeat for more; default: every path",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubemaint", description="Maintenance mode through etcd.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("service", help="service name: the key is <prefix>/<service>")
    common.add_argument("--endpoints", default=None, help="etcd endpoints, comma list (ETCD_ENDPOINTS)")
    common.add_argument("--prefix", default=DEFAULT_PREFIX, help=f"key prefix (default {DEFAULT_PREFIX})")
    common.add_argument("--key", default=None, help="the full key, instead of <prefix>/<service>")
    common.add_argument("--timeout", type=float, default=5.0, help="etcd call timeout in seconds")
    common.add_argument("--cacert", default=None, help="CA file for https endpoints (ETCD_CA_FILE)")
    common.add_argument("--cert", default=None, help="client certificate file (ETCD_CERT_FILE)")
    common.add_argument("--key-file", default=None, help="client key file (ETCD_KEY_FILE)")
    commands = parser.add_subparsers(dest="command", required=True)

    on = commands.add_parser("on", parents=[common], help="put the service into maintenance")
    add_on_options(on)

    commands.add_parser("off", parents=[common], help="end the maintenance")
    status = commands.add_parser("status", parents=[common], help="state, revision and acknowledgements")
    status.add_argument("--json", action="store_true", help="print one JSON document")
    return parser


def _key(args: argparse.Namespace) -> str:
    if args.key:
        return str(args.key)
    if not args.service or "/" in args.service:
        raise UsageError(f"not a service name: {args.service!r}")
    return key_for(args.service, args.prefix)


def _config(args: argparse.Namespace) -> EtcdConfig:
    endpoints = args.endpoints or os.environ.get("ETCD_ENDPOINTS") or "127.0.0.1:2379"
    cert_file = args.cert or os.environ.get("ETCD_CERT_FILE") or None
    key_file = args.key_file or os.environ.get("ETCD_KEY_FILE") or None
    if (cert_file is None) != (key_file is None):
        raise UsageError("a client certificate needs --cert and --key-file (ETCD_CERT_FILE, ETCD_KEY_FILE)")
    try:
        return EtcdConfig.from_endpoints(
            endpoints,
            timeout=args.timeout,
            ca_file=args.cacert or os.environ.get("ETCD_CA_FILE") or None,
            cert_file=cert_file,
            key_file=key_file,
            username=os.environ.get("ETCD_USERNAME") or None,
            password=os.environ.get("ETCD_PASSWORD") or None,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def window_end(duration: str | None, until: str | None, now: datetime) -> datetime | None:
    """The end that ``--for DURATION`` or ``--until TIME`` asks for (``None``: neither given)."""
    if duration:
        return now + parse_duration(duration)
    if not until:
        return None
    try:
        end = parse_time(until)
    except StateParseError as exc:
        raise UsageError(str(exc)) from exc
    if end <= now:
        raise UsageError(f"--until is not after {format_time(now)} (now, or --at): {until}")
    return end


def window_start(at: str | None, now: datetime) -> datetime | None:
    """The start that ``--at TIME`` asks for (``None``: now)."""
    if not at:
        return None
    try:
        start = parse_time(at)
    except StateParseError as exc:
        raise UsageError(f"--at: {exc}") from exc
    return start if start > now else None


def _state_for_on(args: argparse.Namespace, now: datetime) -> MaintenanceState:
    start = window_start(args.at, now)
    until = window_end(args.duration, args.until, start or now)
    if args.retry_after is not None and args.retry_after < 0:
        raise UsageError("--retry-after must be 0 or more")
    try:
        status_page = check_status_page(args.status_page)
    except StateParseError as exc:
        raise UsageError(f"--status-page: {exc}") from None
    try:
        paths = check_paths(args.paths)
    except StateParseError as exc:
        raise UsageError(f"--path: {exc}") from None
    return MaintenanceState(
        enabled=True,
        mode=Mode.READ_ONLY if args.read_only else Mode.FULL,
        reason=args.reason,
        retry_after=args.retry_after,
        until=until,
        sources=(CLI_SOURCE,),
        updated_at=now,
        status_page=status_page,
        paths=paths,
        start=start,
    )


async def _run(args: argparse.Namespace) -> int:
    key = _key(args)
    config = _config(args)
    now = datetime.now(UTC)
    state = _state_for_on(args, now) if args.command == "on" else None
    async with asyncio.timeout(args.timeout * 3), StateStore.open(config) as writer:
        if args.command == "on":
            assert state is not None
            revision = await writer.put_state(key, state)
            _out(f"{key}: maintenance {state.label} at revision {revision}")
            return 0
        if args.command == "off":
            off = MaintenanceState(enabled=False, sources=(CLI_SOURCE,), updated_at=now)
            revision = await writer.put_state(key, off)
            _out(f"{key}: maintenance off at revision {revision}")
            return 0
        raw, revision = await writer.get_raw(key)
        acks = await writer.list_acks(key)
    return _status(key, raw, revision, acks, now, as_json=args.json)


def _status(
    key: str, raw: str | None, revision: int, acks: list[Ack], now: datetime, *, as_json: bool
) -> int:
    error: str | None = None
    try:
        stored = parse(raw)
    except StateParseError as exc:
        stored, error = None, str(exc)
    state = stored.at(now) if stored is not None else None
    upcoming = stored if stored is not None and stored.start is not None and stored.start > now else None

    def current(ack: Ack) -> bool:
        return state is not None and acknowledges(ack, revision, maintenance=state.enabled)

    acknowledged = [a for a in acks if current(a)]
    if as_json:
        document = {
            "key": key,
            "revision": revision,
            "raw": raw,
            "error": error,
            "maintenance": state.enabled if state else None,
            "mode": state.mode.value if state and state.enabled else None,
            "reason": state.reason if state else None,
            "until": format_time(state.until) if state and state.until else None,
            "start": format_time(upcoming.start) if upcoming and upcoming.start else None,
            "statusPage": state.status_page if state else None,
            "paths": list(state.paths) if state and state.paths is not None else None,
            "replicas": {"live": len(acks), "acknowledged": len(acknowledged)},
            "acks": [
                {
                    "instance": a.instance,
                    "revision": a.revision,
                    "maintenance": a.maintenance,
                    "mode": a.mode,
                    "inFlight": a.in_flight,
                    "at": format_time(a.at) if a.at else None,
                    "drained": a.drained,
                    "current": current(a),
                }
                for a in acks
            ],
        }
        _out(json.dumps(document, indent=2))
    else:
        if state is None:
            _out(f"{key}: MALFORMED at revision {revision}: {error}")
        else:
            shown = upcoming or state
            details = [f"reason: {shown.reason}"] if shown.reason else []
            if upcoming is not None and upcoming.start is not None:
                details.append(f"scheduled from {format_time(upcoming.start)}")
            if shown.until:
                details.append(f"until {format_time(shown.until)}")
            if shown.paths is not None:
                details.append(f"paths {', '.join(shown.paths)}")
            if shown.status_page:
                details.append(f"status page {shown.status_page}")
            suffix = f" ({', '.join(details)})" if details else ""
            _out(f"{key}: maintenance {state.label} at revision {revision}{suffix}")
        _out(f"replicas: {len(acks)} live, {len(acknowledged)} acknowledged revision {revision}")
        for a in acks:
            draining = a.maintenance and not a.drained and a.revision >= revision
            mark = "current" if current(a) else "draining" if draining else "stale"
            label = ("read-only" if a.mode == Mode.READ_ONLY.value else "on") if a.maintenance else "off"
            when = format_time(a.at) if a.at else "?"
            _out(f"  {a.instance}: {label}, revision {a.revision} ({mark}), in flight {a.in_flight}, {when}")
    return 1 if error else 0


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except UsageError as exc:
        parser.exit(2, f"kubemaint: error: {exc}\n")
    except TimeoutError:
        sys.stderr.write(f"kubemaint: error: etcd did not answer within {args.timeout * 3:.0f} s\n")
    except EtcdConnectionError as exc:
        endpoints = args.endpoints or os.environ.get("ETCD_ENDPOINTS") or "127.0.0.1:2379"
        if args.cacert or os.environ.get("ETCD_CA_FILE"):  # TLS: the handshake's complaint is the clue
            sys.stderr.write(
                f"kubemaint: error: cannot reach etcd at {endpoints} over TLS "
                f"(--cacert, --cert, --key-file): {describe_error(exc)}\n"
            )
        else:
            sys.stderr.write(
                f"kubemaint: error: cannot reach etcd at {endpoints} (--endpoints or ETCD_ENDPOINTS)\n"
            )
    except Exception as exc:
        sys.stderr.write(f"kubemaint: error: {describe_error(exc)}\n")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
