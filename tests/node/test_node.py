"""A real node: the kubelet joins, containers run under the restricted Pod Security Standard, probes are
evaluated, ``kubectl logs/exec/port-forward`` reach the pod, and the host stays as it was."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from kubemaint_devstack.controlplane import ControlPlane
from kubemaint_devstack.node import Node
from kubemaint_devstack.nodenet import NODE_IP, NODE_NAME
from kubemaint_devstack.process import free_port
from kubemaint_devstack.tools import find_tool
from nodekit import NodeCluster, host_snapshot, restricted_pod

from tests.support.polling import eventually

pytestmark = pytest.mark.node

SERVE = (
    "echo served-by-a-real-container > /scratch/index.html && echo started"
    " && exec httpd -f -p 8080 -h /scratch"
)


def _pod(cp: ControlPlane, namespace: str, name: str) -> dict[str, object]:
    return json.loads(cp.kubectl("get", "pod", name, "-n", namespace, "-o", "json"))


def test_the_kubelet_joins_ready_with_containerd(node_cluster: NodeCluster) -> None:
    node = json.loads(node_cluster.control_plane.kubectl("get", "node", NODE_NAME, "-o", "json"))
    info = node["status"]["nodeInfo"]
    assert info["containerRuntimeVersion"].startswith("containerd://2."), info
    assert info["kubeletVersion"] == (Path(__file__).parents[2] / "tools/k8s/VERSION").read_text().strip()
    addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
    assert addresses["InternalIP"] == NODE_IP
    ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert ready["Ready"] == "True"


def test_a_restricted_pod_runs_in_a_real_container(node_cluster: NodeCluster, namespace: str) -> None:
    cp = node_cluster.control_plane
    probes = {
        "readinessProbe": {"httpGet": {"path": "/index.html", "port": 8080}, "periodSeconds": 1},
        "livenessProbe": {"exec": {"command": ["cat", "/scratch/index.html"]}, "periodSeconds": 2},
    }
    started = time.monotonic()
    cp.kubectl("apply", "-f", "-", input=json.dumps(restricted_pod("web", namespace, SERVE, **probes)))
    cp.kubectl("wait", "--for=condition=Ready", "pod/web", "-n", namespace, "--timeout=60s")
    print(f"pod Ready {time.monotonic() - started:.2f} s after its apply")
    pod = _pod(cp, namespace, "web")
    assert pod["spec"]["nodeName"] == NODE_NAME, "kube-scheduler placed it"  # type: ignore[index]
    status = pod["status"]
    assert status["podIP"].startswith("10.244."), status  # type: ignore[index]
    assert status["containerStatuses"][0]["restartCount"] == 0  # type: ignore[index]

    assert "started" in cp.kubectl("logs", "web", "-n", namespace)
    assert cp.kubectl("exec", "web", "-n", namespace, "--", "id", "-u").strip() == "65534"
    port = free_port()
    forward = subprocess.Popen(
        [find_tool("kubectl", prefer_cache=True), "--kubeconfig", str(cp.kubeconfig), "-n", namespace,
         "port-forward", "pod/web", f"{port}:8080"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert forward.stdout is not None
        assert "Forwarding from" in forward.stdout.readline()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=10) as response:
            assert response.read().decode().strip() == "served-by-a-real-container"
    finally:
        forward.terminate()
        forward.wait(10)
    url = f"http://{status['podIP']}:8080/index.html"  # type: ignore[index]
    inside = node_cluster.node.in_node("curl", "-sS", "-m", "5", url)
    assert inside.stdout.strip() == "served-by-a-real-container", inside.stderr


def test_the_restricted_standard_refuses_a_root_pod(node_cluster: NodeCluster, namespace: str) -> None:
    pod = restricted_pod("root", namespace, "sleep 60")
    pod["spec"]["securityContext"] = {"runAsUser": 0}
    with pytest.raises(Exception, match="violates PodSecurity"):
        node_cluster.control_plane.kubectl("apply", "-f", "-", input=json.dumps(pod))


def test_a_failing_readiness_probe_keeps_a_running_pod_out_of_ready(
    node_cluster: NodeCluster, namespace: str
) -> None:
    cp = node_cluster.control_plane
    probe = {"readinessProbe": {"httpGet": {"path": "/missing", "port": 8080}, "periodSeconds": 1}}
    cp.kubectl("apply", "-f", "-", input=json.dumps(restricted_pod("unready", namespace, SERVE, **probe)))

    def running() -> bool:
        return _pod(cp, namespace, "unready")["status"].get("phase") == "Running"  # type: ignore[union-attr]

    eventually(running, 60, "the container running", every=0.5)
    time.sleep(5)  # five probe periods: each one answered 404
    status = _pod(cp, namespace, "unready")["status"]
    conditions = {c["type"]: c["status"] for c in status["conditions"]}  # type: ignore[index]
    assert conditions["Ready"] == "False"
    assert status["containerStatuses"][0]["ready"] is False  # type: ignore[index]
    assert status["containerStatuses"][0]["state"].get("running"), "running, only not ready"  # type: ignore[index]


def test_the_host_keeps_its_settings_while_the_node_runs(node_cluster: NodeCluster) -> None:
    now = host_snapshot()
    before = node_cluster.host_before
    for part in ("sysctls", "links", "routes", "iptables", "mounts", "paths"):
        assert now[part] == before[part], f"the node changed the host's {part}"


def test_stopping_a_node_leaves_the_machine_as_it_was(tmp_path: Path) -> None:
    before = host_snapshot()
    control_plane = ControlPlane(tmp_path / "cp", node=True)
    control_plane.start()
    try:
        with Node(tmp_path / "node", control_plane) as node:
            control_plane.kubectl("wait", "--for=create", "serviceaccount/default", "--timeout=30s")
            control_plane.kubectl("apply", "-f", "-", input=json.dumps(restricted_pod("p", "default", SERVE)))
            control_plane.kubectl("wait", "--for=condition=Ready", "pod/p", "--timeout=60s")
            cgroup = node.cgroup
    finally:
        control_plane.stop()
    after = host_snapshot()
    assert after == before
    assert not list(Path("/sys/fs/cgroup").glob(f"*/{cgroup}")), "the node's cgroup is gone"
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True, check=False)
    assert leftovers.stdout == "", "no process of the node is left"


def test_cluster_ips_lead_to_pods_and_to_the_api_server(node_cluster: NodeCluster, namespace: str) -> None:
    cp = node_cluster.control_plane
    probe = {"readinessProbe": {"httpGet": {"path": "/index.html", "port": 8080}, "periodSeconds": 1}}
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": namespace},
        "spec": {"selector": {"app": "backend"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }  # fmt: skip
    backend = restricted_pod("backend", namespace, SERVE, **probe)
    cp.kubectl(
        "apply",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [service, backend]}),
    )
    cp.kubectl("wait", "--for=condition=Ready", "pod/backend", "-n", namespace, "--timeout=60s")
    cluster_ip = cp.kubectl("get", "svc", "web", "-n", namespace, "-o", "jsonpath={.spec.clusterIP}")
    answers: list[subprocess.CompletedProcess[str]] = []

    def served() -> bool:  # kube-proxy writes the Service's rules once the EndpointSlice is ready
        answers.append(node_cluster.node.in_node("curl", "-sS", "-m", "2", f"http://{cluster_ip}/index.html"))
        return answers[-1].stdout.strip() == "served-by-a-real-container"

    try:
        eventually(served, 30, f"an answer from ClusterIP {cluster_ip}", every=0.5)
    except AssertionError as timed_out:
        raise AssertionError(f"ClusterIP {cluster_ip} never answered: {answers[-1].stderr}") from timed_out
    # From another pod (hairpin through the bridge), and the API server through kubernetes.default.
    client = restricted_pod("client", namespace, "sleep 300")
    cp.kubectl("apply", "-f", "-", input=json.dumps(client))
    cp.kubectl("wait", "--for=condition=Ready", "pod/client", "-n", namespace, "--timeout=60s")
    # busybox's static wget crashes on a lookup; nc speaks the HTTP/1.0 needed here.
    get = 'printf "GET /index.html HTTP/1.0\\r\\n\\r\\n" | nc -w 5 {} {}'
    fetched = cp.kubectl("exec", "client", "-n", namespace, "--", "sh", "-c", get.format(cluster_ip, 80))
    assert "served-by-a-real-container" in fetched
    answered = cp.kubectl("exec", "client", "-n", namespace, "--", "sh", "-c", get.format("10.96.0.1", 443))
    assert "Client sent an HTTP request to an HTTPS server" in answered, (
        "the API server, via kubernetes.default"
    )


def test_cluster_dns_answers_service_names_from_a_pod(node_cluster: NodeCluster, namespace: str) -> None:
    cp = node_cluster.control_plane
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "named", "namespace": namespace},
        "spec": {"selector": {"app": "nobody"}, "ports": [{"port": 80}]},
    }  # fmt: skip
    cp.kubectl("apply", "-f", "-", input=json.dumps(service))
    cluster_ip = cp.kubectl("get", "svc", "named", "-n", namespace, "-o", "jsonpath={.spec.clusterIP}")
    cp.kubectl("apply", "-f", "-", input=json.dumps(restricted_pod("asker", namespace, "sleep 300")))
    cp.kubectl("wait", "--for=condition=Ready", "pod/asker", "-n", namespace, "--timeout=60s")
    # The pod's resolv.conf (from the kubelet) searches its namespace: the short name resolves too.
    # busybox's nslookup applies the search domains to names without a dot only, asks every one of them,
    # and exits 1 when one has no such name: hence a short name, full names and no exit status.
    for name in ("named", f"named.{namespace}.svc.cluster.local", "kubernetes.default.svc.cluster.local"):
        answer = cp.kubectl("exec", "asker", "-n", namespace, "--", "sh", "-c", f"nslookup {name}; true")
        expected = "10.96.0.1" if name.startswith("kubernetes.") else cluster_ip
        assert expected in answer, f"{name}: {answer}"
