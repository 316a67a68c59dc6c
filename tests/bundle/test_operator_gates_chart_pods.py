"""With the objects `helm install kubemaint-stack` created, the operator flips the readiness gate of the
chart's own pods, and the chart's Service loses and regains them.

What is real: kube-apiserver and kube-controller-manager (deployment, replicaset and endpointslice
controllers), the chart's objects, etcd, and the operator, run as a local process with exactly the
environment of the chart's operator Deployment and under the chart's ServiceAccount (a TokenRequest token,
so only the chart's ClusterRole applies).

What is simulated: the kubelet. There is none on this control plane, so this test plays it: it registers a
Node, binds the chart's pods to it, and writes their status the way a kubelet does (Running, an IP,
ContainersReady, and Ready = every readiness gate condition True). The containers themselves never run.
The chart's `helm test` script for the operator runs here too, against the local operator's liveness URL.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from bundlekit import CHARTS, STACK, TAKE_OWNERSHIP, documents, helm_kube_args

from tests.support.cli import Helm
from tests.support.polling import eventually

if TYPE_CHECKING:
    from kubemaint_devstack.controlplane import ControlPlane
    from kubemaint_devstack.etcd import EtcdServer

GATE = "kubemaint.io/serving"
NODE = "bundle-simulated-kubelet"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class SimulatedKubelet:
    """Test code in the kubelet's role for the chart's pods (see the module docstring)."""

    def __init__(self, cluster: ControlPlane, namespace: str, selector: str) -> None:
        self.cluster, self.namespace, self.selector = cluster, namespace, selector
        cluster.kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE},
        }))  # fmt: skip

    def pods(self) -> list[dict[str, Any]]:
        out = self.cluster.kubectl("get", "pods", "-n", self.namespace, "-l", self.selector, "-o", "json")
        items: list[dict[str, Any]] = json.loads(out)["items"]
        return items

    def sync(self) -> None:
        """Bind unbound pods to the node, then publish each pod's status as a kubelet would."""
        for index, pod in enumerate(self.pods()):
            name = pod["metadata"]["name"]
            if not pod["spec"].get("nodeName"):
                binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                           "target": {"apiVersion": "v1", "kind": "Node", "name": NODE}}  # fmt: skip
                self.cluster.kubectl("create", "-n", self.namespace, "-f", "-", input=json.dumps(binding))
            conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
            gates = [g["conditionType"] for g in pod["spec"].get("readinessGates", [])]
            ready = "True" if all(conditions.get(g) == "True" for g in gates) else "False"
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            status = {"status": {
                "phase": "Running", "hostIP": "10.250.0.1", "podIP": f"10.250.1.{index + 10}",
                "podIPs": [{"ip": f"10.250.1.{index + 10}"}],
                "conditions": [{"type": t, "status": s, "lastTransitionTime": now} for t, s in (
                    ("PodScheduled", "True"), ("Initialized", "True"), ("ContainersReady", "True"),
                    ("Ready", ready))],
            }}  # fmt: skip
            self.cluster.kubectl("patch", "pod", name, "-n", self.namespace, "--subresource=status",
                                 "--type=strategic", "-p", json.dumps(status))  # fmt: skip

    def conditions(self, kind: str) -> list[str | None]:
        return [
            next((c["status"] for c in p.get("status", {}).get("conditions", []) if c["type"] == kind), None)
            for p in self.pods()
        ]

    def settle(self, gate: str, timeout: float = 30.0) -> None:
        """Wait until the operator has set the gate to `gate` on every pod, then report readiness."""
        eventually(lambda: set(self.conditions(GATE)) == {gate}, timeout, f"{GATE}={gate} on every pod", 0.3)
        self.sync()


@pytest.fixture
def stack(helm: Helm, bundle_cluster: ControlPlane, namespace: str) -> Iterator[tuple[str, str]]:
    """The umbrella chart installed under a unique maintenance prefix; uninstalled afterwards."""
    release = f"gate{secrets.token_hex(3)}"
    prefix = f"/maintenance/bundle-{secrets.token_hex(4)}"
    kube = helm_kube_args(bundle_cluster, namespace)
    helm.run("install", release, CHARTS / STACK, *kube, TAKE_OWNERSHIP,
             "--set", f"kubemaint-operator.maintenancePrefix={prefix}",
             "--set", f"users-service.maintenance.prefix={prefix}")  # fmt: skip
    yield release, prefix
    helm.run("uninstall", release, *kube, "--wait", "--timeout", "60s", check=False)
    bundle_cluster.kubectl("delete", "node", NODE, "--ignore-not-found")


@pytest.fixture
def chart_operator(
    stack: tuple[str, str], bundle_cluster: ControlPlane, namespace: str, etcd: EtcdServer, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """The operator as a local process with the chart Deployment's environment and ServiceAccount; yields
    the process and its liveness URL."""
    release, _ = stack
    deployment = json.loads(bundle_cluster.kubectl(
        "get", "deployment", f"{release}-kubemaint-operator", "-n", namespace, "-o", "json"))  # fmt: skip
    pod_spec = deployment["spec"]["template"]["spec"]
    (container,) = pod_spec["containers"]
    assert container["command"] == ["kubemaint-operator"]
    account = pod_spec["serviceAccountName"]
    kubeconfig = bundle_cluster.token_kubeconfig(namespace, account)
    whoami = bundle_cluster.kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}",
                                    kubeconfig=kubeconfig)  # fmt: skip
    assert whoami == f"system:serviceaccount:{namespace}:{account}"
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    liveness = f"http://127.0.0.1:{_free_port()}/healthz"
    env |= {
        # Reachable from this machine instead of the in-cluster Service (which has no running pods):
        "ETCD_ENDPOINTS": etcd.endpoint,
        "LIVENESS_ENDPOINT": liveness,
        "POD_ID": f"local-{secrets.token_hex(3)}",
        "LOG_FORMAT": "console",
        "KUBECONFIG": str(kubeconfig),
    }
    log = (tmp_path / "operator.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "kubemaint_operator"],
        env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    yield process, liveness
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    log.close()
    sys.stdout.write((tmp_path / "operator.log").read_text(errors="replace")[-4000:])


def _slice_readiness(cluster: ControlPlane, namespace: str, service: str) -> list[bool]:
    out = cluster.kubectl("get", "endpointslices", "-n", namespace,
                          "-l", f"kubernetes.io/service-name={service}", "-o", "json")  # fmt: skip
    return [
        bool(e.get("conditions", {}).get("ready"))
        for s in json.loads(out)["items"]
        for e in (s.get("endpoints") or [])
    ]


def test_operator_flips_the_gate_on_the_charts_pods(
    stack: tuple[str, str],
    chart_operator: tuple[subprocess.Popen[bytes], str],
    bundle_cluster: ControlPlane,
    namespace: str,
    etcd: EtcdServer,
    helm: Helm,
) -> None:
    release, prefix = stack
    process, liveness = chart_operator
    service = f"{release}-users-service"
    selector = f"app.kubernetes.io/instance={release},app.kubernetes.io/name=users-service"
    kubelet = SimulatedKubelet(bundle_cluster, namespace, selector)
    eventually(lambda: len(kubelet.pods()) == 2, 30, "the chart's two users-service pods", 0.3)
    kubelet.sync()

    # Outside maintenance the operator opens the gate on the new pods; they become Ready and serve.
    kubelet.settle("True")
    assert kubelet.conditions("Ready") == ["True", "True"]
    eventually(lambda: _slice_readiness(bundle_cluster, namespace, service) == [True, True], 30,
               "both pods ready in the Service's EndpointSlice", 0.3)  # fmt: skip

    maintenance = {
        "apiVersion": "kubemaint.io/v1alpha1", "kind": "Maintenance",
        "metadata": {"name": "db-upgrade", "namespace": namespace},
        "spec": {"service": "users-service", "reason": "bundle test", "retryAfterSeconds": 120},
    }  # fmt: skip
    bundle_cluster.kubectl("apply", "-f", "-", input=json.dumps(maintenance))
    kubelet.settle("False")
    assert kubelet.conditions("Ready") == ["False", "False"]
    eventually(lambda: True not in _slice_readiness(bundle_cluster, namespace, service), 30,
               "no ready endpoint left", 0.3)  # fmt: skip
    value = etcd.get(f"{prefix}/users-service")
    assert value is not None
    assert json.loads(value)["enabled"] is True
    assert process.poll() is None, "the operator died"

    bundle_cluster.kubectl("delete", "maintenance", "db-upgrade", "-n", namespace, "--timeout=30s")
    kubelet.settle("True")
    assert kubelet.conditions("Ready") == ["True", "True"]
    eventually(lambda: _slice_readiness(bundle_cluster, namespace, service) == [True, True], 30,
               "both pods back in the EndpointSlice", 0.3)  # fmt: skip
    value = etcd.get(f"{prefix}/users-service")
    assert value is None or not json.loads(value).get("enabled")

    # The chart's `helm test` script for the operator, pointed at this process's liveness endpoint.
    hooks = documents(helm.run("get", "hooks", release, *helm_kube_args(bundle_cluster, namespace)).stdout)
    (test_pod,) = [h for h in hooks if h["metadata"]["name"] == f"{release}-kubemaint-operator-test-liveness"]
    script = test_pod["spec"]["containers"][0]["args"][0]
    in_cluster = f"http://{release}-kubemaint-operator:8080/healthz"
    assert in_cluster in script
    result = subprocess.run(
        [sys.executable, "-c", script.replace(in_cluster, liveness)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
