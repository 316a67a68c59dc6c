"""``kubectl maint``: the kubectl plugin that puts a service into maintenance through a Maintenance object.

    kubectl maint on SERVICE [--for 30m | --until TIME] [--reason TEXT] [--read-only] [--retry-after S]
                             [--status-page URL] [--path /users ...] [--name NAME]
    kubectl maint off SERVICE [--name NAME | --all]
    kubectl maint status [SERVICE]

What ``artisan down``, ``artisan up`` and their status are for Laravel, on the operator's custom resource:
``on`` applies a Maintenance (``<SERVICE>-maint`` unless ``--name``) in the current namespace, ``off``
deletes it (``--all``: every Maintenance of the service there, whoever made it), ``status`` lists them
with their phase, ``Drained`` and end. ``-n/--namespace``, ``--context`` and ``--kubeconfig`` go to
kubectl, which the plugin runs for every call (kubectl is there: it is what runs a plugin), so contexts,
credentials and RBAC are exactly the user's own. Exit codes: 0 done, 1 kubectl failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from kubemaint.cli import UsageError, add_on_options, window_end, window_start
from kubemaint.state import StateParseError, check_paths, check_status_page, format_time

__all__ = ["build_parser", "main", "manifest"]

API_VERSION = "kubemaint.io/v1alpha1"
MANAGED_BY = "kubectl-maint"


class KubectlFailed(RuntimeError):
    """kubectl exited non-zero; the message is its error output."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubectl maint", description="Maintenance objects from kubectl.")
    parser.add_argument("-n", "--namespace", default=None, help="namespace (default: the context's)")
    parser.add_argument("--context", default=None, help="kubeconfig context")
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig file")
    commands = parser.add_subparsers(dest="command", required=True)
    on = commands.add_parser("on", help="apply a Maintenance for SERVICE")
    on.add_argument("service", help="the service, as in spec.service")
    on.add_argument("--name", default=None, help="the object's name (default <service>-maint)")
    add_on_options(on)
    off = commands.add_parser("off", help="end the maintenance of SERVICE")
    off.add_argument("service", help="the service, as in spec.service")
    which = off.add_mutually_exclusive_group()
    which.add_argument("--name", default=None, help="the object's name (default <service>-maint)")
    which.add_argument("--all", action="store_true", help="every Maintenance of SERVICE in the namespace")
    status = commands.add_parser("status", help="the Maintenance objects (of SERVICE) and their phase")
    status.add_argument("service", nargs="?", default=None)
    return parser


def manifest(args: argparse.Namespace, now: datetime) -> dict[str, Any]:
    """The Maintenance that ``kubectl maint on`` applies (checked here, and again by the API server)."""
    spec: dict[str, Any] = {"service": args.service, "mode": "read-only" if args.read_only else "full"}
    if args.reason:
        spec["reason"] = args.reason
    if args.retry_after is not None:
        if not 0 <= args.retry_after <= 86400:
            raise UsageError("--retry-after must be 0 to 86400")
        spec["retryAfterSeconds"] = args.retry_after
    start = window_start(args.at, now)
    until = window_end(args.duration, args.until, start or now)
    window = {name: format_time(moment) for name, moment in (("start", start), ("end", until)) if moment}
    if window:
        spec["window"] = window
    try:
        if (page := check_status_page(args.status_page)) is not None:
            spec["statusPage"] = page
        if (paths := check_paths(args.paths)) is not None:
            spec["paths"] = list(paths)
    except StateParseError as exc:
        raise UsageError(str(exc)) from None
    return {
        "apiVersion": API_VERSION,
        "kind": "Maintenance",
        "metadata": {
            "name": args.name or f"{args.service}-maint",
            "labels": {"app.kubernetes.io/managed-by": MANAGED_BY},
        },
        "spec": spec,
    }


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        code = _run(args)
    except UsageError as exc:
        sys.stderr.write(f"kubectl maint: {exc}\n")
        raise SystemExit(2) from None
    except KubectlFailed as exc:
        sys.stderr.write(f"kubectl maint: {exc}\n")
        raise SystemExit(1) from None
    raise SystemExit(code)


def _run(args: argparse.Namespace) -> int:
    if args.command == "on":
        obj = manifest(args, datetime.now(UTC))
        _kubectl(args, "apply", "-f", "-", input=json.dumps(obj))
        until = obj["spec"].get("window", {}).get("end")
        _say(f"maintenance {obj['metadata']['name']}: {args.service} on{f' until {until}' if until else ''}")
        return 0
    if args.command == "off":
        names = (
            [n for n, o in _maintenances(args) if o["spec"]["service"] == args.service] if args.all else []
        )
        if not args.all:
            names = [args.name or f"{args.service}-maint"]
        for name in names:
            _kubectl(args, "delete", "maintenance", name, "--ignore-not-found", "--wait=false")
            _say(f"maintenance {name}: deleted")
        if not names:
            _say(f"no Maintenance of {args.service} here")
        return 0
    rows = [("NAME", "SERVICE", "PHASE", "MODE", "DRAINED", "UNTIL", "REASON")]
    for name, obj in _maintenances(args):
        spec, status = obj.get("spec", {}), obj.get("status", {})
        if args.service is not None and spec.get("service") != args.service:
            continue
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions", [])}
        until = (spec.get("window") or {}).get("end") or ""
        phase, mode, reason = status.get("phase", "Pending"), spec.get("mode", "full"), spec.get("reason", "")
        rows.append(
            (name, spec.get("service", ""), phase, mode, conditions.get("Drained") or "", until, reason)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        _say("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")


def _maintenances(args: argparse.Namespace) -> list[tuple[str, dict[str, Any]]]:
    items = json.loads(_kubectl(args, "get", "maintenances", "-o", "json"))["items"]
    return sorted(((item["metadata"]["name"], item) for item in items), key=lambda pair: pair[0])


def _kubectl(args: argparse.Namespace, *command: str, input: str | None = None) -> str:
    kubectl = os.environ.get("KUBECTL") or shutil.which("kubectl") or "kubectl"
    flags = [
        f"--{name}={value}"
        for name in ("namespace", "context", "kubeconfig")
        if (value := getattr(args, name))
    ]
    result = subprocess.run(
        [kubectl, *flags, *command], input=input, capture_output=True, text=True, check=False, timeout=60
    )
    if result.returncode != 0:
        raise KubectlFailed(result.stderr.strip() or f"kubectl exited {result.returncode}")
    return result.stdout
