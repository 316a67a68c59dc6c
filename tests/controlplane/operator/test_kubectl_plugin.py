"""``kubectl maint`` on a real API server with the operator running: on, status, off, as a user would type
them (kubectl runs the ``kubectl-maint`` script, which runs kubectl)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kube_support import Kube, OperatorProcess
from kubemaint_devstack.etcd import EtcdServer
from kubemaint_devstack.tools import find_tool

from tests.support.cli import run
from tests.support.etcd_values import value_of
from tests.support.polling import eventually


def kubectl_maint(kube: Kube, *args: str) -> subprocess.CompletedProcess[str]:
    """``kubectl maint ARGS`` through kubectl's own plugin lookup (``kubectl-maint`` on PATH)."""
    kubectl = find_tool("kubectl", prefer_cache=True)
    path = os.pathsep.join((str(Path(sys.executable).parent), str(Path(kubectl).parent), os.environ["PATH"]))
    env = {**os.environ, "PATH": path, "KUBECONFIG": str(kube.cluster.kubeconfig), "KUBECTL": str(kubectl)}
    return run([kubectl, "maint", *args], env=env)


def test_on_status_off_drive_a_maintenance_object(
    kube: Kube, etcd: EtcdServer, operator: OperatorProcess, namespace: str, service_name: str
) -> None:
    key = f"/maintenance/{service_name}"
    done = kubectl_maint(
        kube,
        "-n",
        namespace,
        "on",
        service_name,
        "--for",
        "30m",
        "--reason",
        "db upgrade",
        "--path",
        "/users",
    )
    assert done.returncode == 0, done.stderr
    name = f"{service_name}-maint"
    assert done.stdout.startswith(f"maintenance {name}: {service_name} on until ")
    obj = kube.wait_phase(namespace, name, "Active")
    assert obj["spec"]["reason"] == "db upgrade"
    assert obj["spec"]["paths"] == ["/users"]
    assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubectl-maint"
    value = eventually(lambda: (v := value_of(etcd, key)) and v.get("enabled") and v, 15, "the key on")
    assert value["until"] == obj["spec"]["window"]["end"]

    status = kubectl_maint(kube, "-n", namespace, "status", service_name)
    assert status.returncode == 0, status.stderr
    header, row = status.stdout.splitlines()
    assert header.split() == ["NAME", "SERVICE", "PHASE", "MODE", "DRAINED", "UNTIL", "REASON"]
    assert row.split()[:4] == [name, service_name, "Active", "full"]

    done = kubectl_maint(kube, "-n", namespace, "off", service_name)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"maintenance {name}: deleted"
    kube.wait_gone(namespace, name)
    eventually(lambda: (value_of(etcd, key) or {}).get("enabled") is False, 15, "the key off")


def test_off_all_ends_every_object_of_the_service_and_only_those(
    kube: Kube, operator: OperatorProcess, namespace: str, service_name: str
) -> None:
    for name, service in (("a", service_name), ("b", service_name), ("other", f"{service_name}-x")):
        assert kubectl_maint(kube, "-n", namespace, "on", service, "--name", name).returncode == 0
    done = kubectl_maint(kube, "-n", namespace, "off", service_name, "--all")
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.split("\n")[:2]) == ["maintenance a: deleted", "maintenance b: deleted"]
    kube.wait_gone(namespace, "a")
    kube.wait_gone(namespace, "b")
    assert kube.maintenance(namespace, "other") is not None


def test_bad_usage_writes_nothing_and_a_kubectl_failure_is_one_line(kube: Kube, namespace: str) -> None:
    bad = kubectl_maint(kube, "-n", namespace, "on", "users", "--status-page", "javascript:x")
    assert bad.returncode == 2
    assert "statusPage" in bad.stderr
    listed = json.loads(kube.kubectl("get", "maintenances", "-n", namespace, "-o", "json"))
    assert listed["items"] == []
    failed = kubectl_maint(kube, "-n", "no-such-namespace-here", "on", "users")
    assert failed.returncode == 1
    assert failed.stderr.startswith("kubectl maint: ")
    assert len(failed.stderr.strip().splitlines()) == 1
