"""The operator's idle cost: its requests to the Kubernetes API and to etcd, and its log lines at info level
and above, while 20 Maintenance objects exist and nothing changes.

Starts a real control plane with an audit log (every request, at Metadata level), an application etcd, the
shipped CRDs, RBAC and peering object, and ``kubemaint-operator`` as a real process under the
ServiceAccount of ``k8s/base/rbac``. Creates 20 Maintenances on 20 services (8 active, 6 scheduled an hour
ahead, 6 disabled) in one namespace and waits until each has published its phase. Then counts, over a
quiet window of ``--window`` seconds:

* the operator's API requests, from the audit log (its ServiceAccount only), by verb and resource;
* the etcd requests, from etcd's own ``/metrics`` (the operator is that etcd's only client): unary calls
  and messages on watch streams;
* the operator's log lines at info level and above (kopf's JSON log).

Twice: once with ``RESYNC_SECONDS`` far beyond the window (so nothing but events may cause work: the figures
of "between resyncs"), once with the default resync (what the periodic re-check costs). The baseline, in
the same run, is the busy phase: what creating and settling the 20 objects cost, per second.

    uv run python bench/operator_idle.py [--window 65]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _kit import (
    api_requests,
    cpu_seconds,
    describe,
    etcd_requests,
    operator_process,
    prepare_operator,
    rss_mib,
)
from _out import bars, write
from kubemaint_devstack.controlplane import ControlPlane
from kubemaint_devstack.etcd import EtcdServer
from kubemaint_devstack.process import ManagedProcess

NAMESPACE = "idle"
COUNTS = {"active": 8, "scheduled": 6, "disabled": 6}
SETTLE_TIMEOUT = 120.0


def manifests() -> list[dict[str, Any]]:
    objects = []
    ahead = datetime.fromtimestamp(time.time() + 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for kind, count in COUNTS.items():
        for index in range(count):
            spec: dict[str, Any] = {"service": f"svc-{kind}-{index}", "reason": "idle bench"}
            if kind == "scheduled":
                spec["window"] = {"start": ahead}
            if kind == "disabled":
                spec["enabled"] = False
            objects.append(
                {
                    "apiVersion": "kubemaint.io/v1alpha1",
                    "kind": "Maintenance",
                    "metadata": {"name": f"{kind}-{index}", "namespace": NAMESPACE},
                    "spec": spec,
                }
            )
    return objects


def settled(cluster: ControlPlane) -> bool:
    items = json.loads(cluster.kubectl("get", "maintenances", "-n", NAMESPACE, "-o", "json"))["items"]
    phases = Counter(item.get("status", {}).get("phase") for item in items)
    return phases == Counter({"Active": 8, "Scheduled": 6, "Pending": 6})


def log_lines(log: Path, offset: int) -> list[str]:
    """Lines at info level or above written after ``offset`` (kopf's JSON log: ``severity``)."""
    with log.open("rb") as stream:
        stream.seek(offset)
        lines = stream.read().decode(errors="replace").splitlines()
    loud = []
    for line in lines:
        try:
            severity = str(json.loads(line).get("severity", "")).lower()
        except (json.JSONDecodeError, AttributeError):
            severity = "unparsed"
        if severity != "debug":
            loud.append(line)
    return loud


def settle(cluster: ControlPlane, log: Path) -> None:
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while not settled(cluster):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the objects never settled; see {log}")
        time.sleep(0.5)
    time.sleep(5)  # the last status patches and Events land; the watches are open


def measure(cluster: ControlPlane, etcd: EtcdServer, audit: Path, kubeconfig: Path, run: int, window: float,
            resync: str | None, results: dict[str, Any]) -> ManagedProcess:  # fmt: skip
    """Start the operator, settle, count one quiet window, print the figures; returns the running operator."""
    log = Path(audit.parent / f"operator-{run}.log")
    operator = operator_process(kubeconfig, etcd, log, resync)
    busy_from, etcd_before, started = datetime.now(UTC), etcd_requests(etcd), time.monotonic()
    operator.start()
    if run == 0:
        cluster.kubectl("apply", "-f", "-", input="\n---\n".join(json.dumps(m) for m in manifests()))
    settle(cluster, log)
    busy_seconds = time.monotonic() - started
    busy_api = sum(api_requests(audit, busy_from, datetime.now(UTC)).values())
    busy_etcd = sum((etcd_requests(etcd) - etcd_before).values())
    pid = operator.pid
    assert pid is not None
    offset, cpu_before = log.stat().st_size, cpu_seconds(pid)
    since, etcd_before = datetime.now(UTC), etcd_requests(etcd)
    time.sleep(window)
    until = datetime.now(UTC)
    quiet_etcd = etcd_requests(etcd) - etcd_before
    cpu = cpu_seconds(pid) - cpu_before
    time.sleep(2)  # the audit log is written as each request completes
    quiet_api = api_requests(audit, since, until)
    loud = log_lines(log, offset)
    w = f"{window:.0f} s"
    title = "RESYNC_SECONDS=3600: no resync in the window" if resync else "the default RESYNC_SECONDS (30)"
    phase = "start, create 20, settle" if run == 0 else "restart, resume 20, settle"
    print(f"\n== {title}")
    print(f"busy ({phase}; {busy_seconds:.0f} s): {busy_api} API requests ({busy_api / busy_seconds:.1f}/s), "
          f"{busy_etcd} etcd requests ({busy_etcd / busy_seconds:.1f}/s)")  # fmt: skip
    print(f"quiet {w}: {sum(quiet_api.values())} API requests ({describe(quiet_api)})")
    print(f"quiet {w}: {sum(quiet_etcd.values())} etcd requests ({describe(quiet_etcd)})")
    print(f"quiet {w}: {len(loud)} log lines at info or above")
    for line in loud[:5]:
        print(f"    {line[:200]}")
    print(
        f"quiet {w}: {cpu:.2f} CPU seconds ({cpu / window * 100:.2f} % of a core), RSS {rss_mib(pid):.0f} MiB"
    )
    if busy_api:
        ratio = (sum(quiet_api.values()) / window) / (busy_api / busy_seconds)
        print(f"quiet/busy API request rate: {ratio:.3f}")
    results["default resync" if resync is None else f"RESYNC_SECONDS={resync}"] = {
        "busy_seconds": busy_seconds,
        "busy_api_requests": busy_api,
        "busy_etcd_requests": busy_etcd,
        "quiet_seconds": window,
        "quiet_api_requests": dict(quiet_api),
        "quiet_etcd_requests": dict(quiet_etcd),
        "quiet_info_log_lines": len(loud),
        "quiet_cpu_percent": cpu / window * 100,
        "rss_mib": rss_mib(pid),
    }
    return operator


def plot(results: dict[str, Any], window: float) -> None:
    """Requests per minute while settling and while quiet, per run."""
    rates: dict[str, float] = {}
    for name, figures in results.items():
        for kind in ("api", "etcd"):
            rates[f"{name}: settling, {kind}"] = (
                figures[f"busy_{kind}_requests"] / figures["busy_seconds"] * 60
            )
            rates[f"{name}: quiet, {kind}"] = sum(figures[f"quiet_{kind}_requests"].values()) / window * 60
    bars("operator_idle", "Operator requests per minute with 20 Maintenances", "per minute", rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=65.0, help="seconds of each quiet window")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="kubemaint-bench-"))
    base.chmod(0o711)
    audit = base / "audit.log"
    operator: ManagedProcess | None = None
    try:
        with (
            ControlPlane(base / "cp", audit_log=audit) as cluster,
            EtcdServer(base / "etcd", name="app") as etcd,
        ):
            kubeconfig = prepare_operator(cluster, NAMESPACE)
            kinds = ", ".join(f"{n} {kind}" for kind, n in COUNTS.items())
            total = sum(COUNTS.values())
            print(f"control plane {cluster.server}, etcd {etcd.endpoint}; {total} Maintenances ({kinds}); "
                  f"quiet windows of {args.window:.0f} s")  # fmt: skip
            results: dict[str, Any] = {}
            for run, resync in enumerate(("3600", None)):
                operator = measure(cluster, etcd, audit, kubeconfig, run, args.window, resync, results)
                operator.stop()
                operator = None
            write("operator_idle", {"maintenances": total, **results})
            plot(results, args.window)
    finally:
        if operator is not None:
            operator.kill()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
