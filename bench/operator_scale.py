"""Operator scale: 100 Maintenance objects over 20 services gating 300 pods, on a real control plane.

Starts a control plane (with an audit log) and an application etcd, applies the shipped CRDs and RBAC, and
runs ``kubemaint-operator`` as a real process under the chart's ServiceAccount (``RESYNC_SECONDS`` 3600, so
only events cause work). 300 pods (15 per service, each with the readiness gate; no kubelet: they stay
Pending, which the operator's work does not depend on) get their gate condition True first. Then:

- **converge**: ``kubectl apply`` 100 Maintenances (5 per service, sharing its key) and time until every
  object is Active with ``PodsGated`` True and every pod's gate is False;
- **release**: delete them all and time until every gate is True again and every key is off;
- **idle**: 30 quiet seconds with the 100 objects back in place.

Each phase reports the operator's API requests (audit log, by its ServiceAccount), etcd requests (etcd's
gRPC metrics), peak RSS and CPU. The baseline in the same run: the time the API server takes to accept the
100 objects (``kubectl apply`` alone). Targets: converged in under 10 s, no request while idle. Writes
``bench/out/operator_scale.json``.

    uv run python bench/operator_scale.py [--services 20] [--per-service 5] [--pods-per-service 15]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _kit import (
    PeakRss,
    api_requests,
    cpu_seconds,
    describe,
    etcd_requests,
    operator_process,
    prepare_operator,
)
from _out import bars, write
from kubemaint_devstack.controlplane import ControlPlane
from kubemaint_devstack.etcd import EtcdServer

NAMESPACE = "scale"
GATE = "kubemaint.io/serving"
TIMEOUT = 300.0


def apply(cluster: ControlPlane, objects: list[dict[str, Any]]) -> None:
    cluster.kubectl(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    )


def pods(services: int, per: int) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": f"svc-{s}-{p}", "namespace": NAMESPACE,
                      "labels": {"app.kubernetes.io/name": f"svc-{s}"}},
         "spec": {"containers": [{"name": "app", "image": "users-service:dev"}],
                  "readinessGates": [{"conditionType": GATE}]}}
        for s in range(services) for p in range(per)
    ]  # fmt: skip


def maintenances(services: int, per: int) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "kubemaint.io/v1alpha1", "kind": "Maintenance",
         "metadata": {"name": f"svc-{s}-m{m}", "namespace": NAMESPACE},
         "spec": {"service": f"svc-{s}", "reason": f"scale {m}", "retryAfterSeconds": 30 + m}}
        for s in range(services) for m in range(per)
    ]  # fmt: skip


def gates(cluster: ControlPlane) -> list[str | None]:
    items = json.loads(cluster.kubectl("get", "pods", "-n", NAMESPACE, "-o", "json"))["items"]
    found = []
    for item in items:
        conditions = {c["type"]: c["status"] for c in (item.get("status") or {}).get("conditions") or []}
        found.append(conditions.get(GATE))
    return found


def listed(cluster: ControlPlane) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(
        cluster.kubectl("get", "maintenances", "-n", NAMESPACE, "-o", "json")
    )["items"]
    return items


def converged(cluster: ControlPlane, count: int) -> bool:
    items = listed(cluster)
    if len(items) != count:
        return False
    for item in items:
        status = item.get("status") or {}
        gated = {c["type"]: c["status"] for c in status.get("conditions") or []}.get("PodsGated")
        if status.get("phase") != "Active" or gated != "True":
            return False
    return all(gate == "False" for gate in gates(cluster))


def until(check: Callable[[], bool], what: str) -> float:
    """Seconds until ``check`` holds; ``inf`` (and a line saying so) when it did not within TIMEOUT."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > TIMEOUT:
            print(f"NOT CONVERGED: {what} did not happen within {TIMEOUT:.0f} s")
            return float("inf")
        time.sleep(0.2)
    return time.monotonic() - started


class Phase:
    """Counts the operator's requests, CPU and peak memory over one phase."""

    def __init__(self, audit: Path, etcd: EtcdServer, pid: int) -> None:
        self.audit, self.etcd, self.pid = audit, etcd, pid

    def __enter__(self) -> Phase:
        self.since, self.etcd_before, self.cpu_before = (
            datetime.now(UTC),
            etcd_requests(self.etcd),
            cpu_seconds(self.pid),
        )
        self.peak = PeakRss(self.pid).__enter__()
        return self

    def __exit__(self, *_: object) -> None:
        self.peak.__exit__()
        self.until = datetime.now(UTC)
        self.cpu = cpu_seconds(self.pid) - self.cpu_before
        self.etcd_count = etcd_requests(self.etcd) - self.etcd_before
        time.sleep(2)  # the audit log is written as each request completes
        self.api = api_requests(self.audit, self.since, self.until)

    def figures(self, seconds: float) -> dict[str, Any]:
        return {"seconds": seconds, "api_requests": sum(self.api.values()), "api": dict(self.api),
                "etcd_requests": sum(self.etcd_count.values()), "cpu_seconds": self.cpu,
                "peak_rss_mib": self.peak.mib}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--per-service", type=int, default=5)
    parser.add_argument("--pods-per-service", type=int, default=15)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of the quiet window")
    args = parser.parse_args()
    count = args.services * args.per_service
    base = Path(tempfile.mkdtemp(prefix="kubemaint-bench-"))
    base.chmod(0o711)
    audit = base / "audit.log"
    operator = None
    results: dict[str, Any] = {}
    try:
        with (
            ControlPlane(base / "cp", audit_log=audit) as cluster,
            EtcdServer(base / "etcd", name="app") as etcd,
        ):
            kubeconfig = prepare_operator(cluster, NAMESPACE)
            operator = operator_process(kubeconfig, etcd, base / "operator.log", "3600")
            operator.start()
            pid = operator.pid
            assert pid is not None
            apply(cluster, pods(args.services, args.pods_per_service))
            until(lambda: all(g == "True" for g in gates(cluster)), "every gate True before any maintenance")
            print(f"{len(gates(cluster))} pods with their gate open; applying {count} Maintenances")

            with Phase(audit, etcd, pid) as phase:
                started = time.monotonic()
                apply(cluster, maintenances(args.services, args.per_service))
                accepted = time.monotonic() - started
                took = accepted + until(lambda: converged(cluster, count), "converged")
            results["converge"] = {**phase.figures(took), "kubectl_apply_seconds": accepted}
            with Phase(audit, etcd, pid) as phase:
                started = time.monotonic()
                cluster.kubectl("delete", "maintenances", "--all", "-n", NAMESPACE, "--wait=false")
                took = until(lambda: all(g == "True" for g in gates(cluster)), "every gate open again")
                took = max(took, time.monotonic() - started)
            results["release"] = phase.figures(took)
            until(lambda: not listed(cluster), "the objects gone")
            apply(cluster, maintenances(args.services, args.per_service))
            until(lambda: converged(cluster, count), "converged again")
            time.sleep(5)  # the last status patches and Events land
            with Phase(audit, etcd, pid) as phase:
                time.sleep(args.idle)
            results["idle"] = phase.figures(args.idle)
            operator.stop()
            operator = None
            # Wake-ups the key watches took for drift; with no hand edit, every one is a false alarm.
            results["drift_repairs"] = (base / "operator.log").read_text().count("repairing")
    finally:
        if operator is not None:
            operator.kill()
        shutil.rmtree(base, ignore_errors=True)

    pods_total = args.services * args.pods_per_service
    print(f"{count} Maintenances over {args.services} services, {pods_total} gated pods:")
    labels = {"converge": "apply -> all Active, every pod gated", "release": "delete -> every gate open",
              "idle": f"{args.idle:.0f} quiet seconds"}  # fmt: skip
    for name, label in labels.items():
        f = results[name]
        print(f"  {label:<38} {f['seconds']:6.1f} s  {f['api_requests']:5d} API requests  "
              f"{f['etcd_requests']:5d} etcd requests  {f['cpu_seconds']:5.1f} CPU s  "
              f"peak {f['peak_rss_mib']:.0f} MiB")  # fmt: skip
    converge = results["converge"]
    print(f"  (kubectl apply of the {count} objects alone: {converge['kubectl_apply_seconds']:.1f} s)")
    print(f"  converging: {converge['api_requests'] / count:.1f} API requests per object, "
          f"{converge['api_requests'] / pods_total:.1f} per pod")  # fmt: skip
    print(f"  idle API requests: {describe(Counter(results['idle']['api']))} (target: none)")
    print(f"  drift repairs logged (no hand edit made, so each a false alarm): {results['drift_repairs']}")
    write("operator_scale", {"services": args.services, "per_service": args.per_service,
                             "pods": pods_total, "target_converge_seconds": 10, **results})  # fmt: skip
    bars("operator_scale", f"{count} Maintenances over {args.services} services, {pods_total} gated pods",
         "seconds", {"kubectl apply alone (baseline)": converge["kubectl_apply_seconds"],
                     "apply -> all Active, every pod gated": converge["seconds"],
                     "delete -> every gate open": results["release"]["seconds"]})  # fmt: skip


if __name__ == "__main__":
    main()
