"""The stand-in: while a maintenance gates every replica of a Service (found by its selector, not by name),
the operator adds an EndpointSlice to that Service pointing at the maintenance responder, and the real
``kubemaint-responder`` process answers on that slice's port with the maintenance's own 503; the slice
goes once a replica is Ready again, and a stand-in that no Maintenance owns is swept when the operator
starts.

SIMULATED: the kubelet (``FakeKubelet`` marks the pods Running with an IP and computes Ready from the
readiness gates). The API server, the endpointslice controller, the operator and the responder are real.
The responder runs under the ClusterRole the operator chart renders for it, and listens on loopback here;
that requests reach it through kube-proxy is proven on the real node (tests/e2e/test_story.py).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube_support import OPERATOR_NAMESPACE, FakeKubelet, Kube, OperatorProcess, maintenance, pod, script
from kubemaint_devstack.controlplane import ControlPlane
from kubemaint_devstack.process import ManagedProcess, free_port
from kubemaint_operator.stand_in import ready_addresses

from tests.support.cli import Helm
from tests.support.polling import eventually

CHART = Path(__file__).resolve().parents[3] / "charts" / "kubemaint-operator"
RESPONDER_ACCOUNT = "kubemaint-responder"
PORTS = 4
WEB = ("web-1", "web-2")
"""The Service's replicas."""


def _free_range(count: int) -> int:
    """The first of ``count`` consecutive loopback ports that are free now."""
    for _ in range(50):
        first = 30000 + secrets.randbelow(20000)
        sockets = []
        try:
            for port in range(first, first + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise AssertionError(f"no {count} free consecutive ports")


@pytest.fixture(scope="module")
def responder_kubeconfig(
    control_plane: ControlPlane, kube: Kube, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A token for a ServiceAccount bound to the ClusterRole that the operator chart gives the responder."""
    rendered = (
        Helm(tmp_path_factory.mktemp("helm"))
        .run("template", "t", CHART, "--namespace", OPERATOR_NAMESPACE)
        .stdout
    )
    (role,) = [
        doc for doc in yaml.safe_load_all(rendered)
        if doc and doc["kind"] == "ClusterRole" and doc["metadata"]["name"].endswith("-responder")
    ]  # fmt: skip
    name = f"kubemaint-responder-{secrets.token_hex(3)}"
    path = control_plane.token_kubeconfig(OPERATOR_NAMESPACE, RESPONDER_ACCOUNT)
    rbac = "rbac.authorization.k8s.io"
    kube.apply(
        {"apiVersion": f"{rbac}/v1", "kind": "ClusterRole", "metadata": {"name": name},
         "rules": role["rules"]},
        {"apiVersion": f"{rbac}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
         "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": RESPONDER_ACCOUNT,
                       "namespace": OPERATOR_NAMESPACE}]},
    )  # fmt: skip
    return path


class Responder:
    """``kubemaint-responder`` as a real process on loopback ports."""

    def __init__(self, kubeconfig: Path, log_dir: Path) -> None:
        self.first = _free_range(PORTS)
        self.health = free_port()
        self.process = ManagedProcess(
            "kubemaint-responder",
            [script("kubemaint-responder")],
            log_dir / "responder.log",
            env={
                **os.environ,
                "KUBECONFIG": str(kubeconfig),
                "RESPONDER_PORTS": self.ports,
                "RESPONDER_HOST": "127.0.0.1",
                "RESPONDER_HEALTH_PORT": str(self.health),
                "LOG_FORMAT": "console",
            },
            stop_timeout=15,
        )

    @property
    def ports(self) -> str:
        return f"{self.first}-{self.first + PORTS - 1}"

    def get(self, port: int, path: str = "/", accept: str = "*/*") -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Accept": accept})
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
        except urllib.error.HTTPError as err:
            return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()

    def ready(self) -> bool:
        try:
            return self.get(self.health, "/readyz")[0] == 200
        except OSError:
            return False


@pytest.fixture
def responder(responder_kubeconfig: Path, tmp_path: Path) -> Iterator[Responder]:
    process = Responder(responder_kubeconfig, tmp_path)
    process.process.start()
    process.process.wait_until(process.ready, 60, "its routes loaded")
    yield process
    process.process.stop()


def _service(
    namespace: str, name: str, selector: dict[str, str], ports: list[dict[str, Any]]
) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": selector, "ports": ports}}  # fmt: skip


def _present(obj: dict[str, Any] | None) -> dict[str, Any]:
    assert obj is not None
    return obj


def _stand_in(kube: Kube, namespace: str, service: str) -> dict[str, Any] | None:
    return kube.get(f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices/{service}-kubemaint")


class SliceHistory:
    """Every state of a Service's EndpointSlices, in the API server's order (a list, then a watch), as
    the set of ready addresses of each slice: what kube-proxy sees, one change at a time."""

    def __init__(self, kube: Kube, namespace: str, service: str) -> None:
        self.path = _slices_path(namespace, service)
        listed = kube.cluster.api_get(self.path)
        self.slices = {item["metadata"]["name"]: _ready_of(item) for item in listed["items"]}
        self.states = [dict(self.slices)]
        self.stream = kube.cluster.api_stream(
            f"{self.path}&watch=1&resourceVersion={listed['metadata']['resourceVersion']}", timeout=300
        )
        self.thread = threading.Thread(target=self._follow, daemon=True)
        self.thread.start()

    def _follow(self) -> None:
        try:
            for line in self.stream:
                event = json.loads(line)
                name = event["object"]["metadata"]["name"]
                if event["type"] == "DELETED":
                    self.slices.pop(name, None)
                else:
                    self.slices[name] = _ready_of(event["object"])
                self.states.append(dict(self.slices))
        except (OSError, ValueError):  # the watch ended before close(): the states seen so far stand
            pass

    def came_and_went(self, name: str) -> bool:
        """Whether slice ``name`` has appeared and gone since the history began."""
        present = [name in state for state in list(self.states)]
        return True in present and False in present[present.index(True) :]

    def close(self) -> list[dict[str, set[str]]]:
        self.stream.close()
        self.thread.join(10)
        return self.states


def _slices_path(namespace: str, service: str) -> str:
    return (f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
            f"?labelSelector=kubernetes.io/service-name%3D{service}")  # fmt: skip


def _ready_now(kube: Kube, namespace: str, service: str) -> set[str]:
    """The ready addresses of the Service's slices now."""
    listed = kube.cluster.api_get(_slices_path(namespace, service))
    return set(ready_addresses(listed["items"]))


def _ready_of(item: dict[str, Any]) -> set[str]:
    return set(ready_addresses([item]))


def _serving(
    kube: Kube, start_operator: Any, responder: Responder, namespace: str, service_name: str
) -> OperatorProcess:
    """The Service (two ports), the responder's Service, and the operator publishing stand-ins for it."""
    kube.wait_default_account(namespace)
    kube.apply(
        _service(namespace, service_name, {"app.kubernetes.io/name": service_name},
                 [{"name": "http", "port": 80, "targetPort": 8081}, {"name": "admin", "port": 9000}]),
        _service(namespace, "responder", {"app": "responder"}, [{"name": "health", "port": 8081}]),
    )  # fmt: skip
    operator: OperatorProcess = start_operator(
        RESPONDER_SERVICE=f"{namespace}/responder", RESPONDER_PORTS=responder.ports
    )
    return operator


def _replicas_and_a_responder(kube: Kube, namespace: str, service_name: str, node: str) -> None:
    """Pods web-1 and web-2 of the Service (with the gate) and responder-1, all on ``node``, until the
    Service's own slice lists them ready and no stand-in is in place."""
    stand_in_pod = pod("responder-1", namespace, "responder", gate=False, node=node)
    stand_in_pod["metadata"]["labels"] = {"app": "responder"}
    kube.apply(*(pod(name, namespace, service_name, node=node) for name in WEB), stand_in_pod)
    eventually(lambda: all(kube.gate(namespace, name) == "True" for name in WEB), 30,
               "the gates open before any maintenance")  # fmt: skip
    assert _stand_in(kube, namespace, service_name) is None
    eventually(lambda: _ready_now(kube, namespace, service_name) == _web_addresses(kube, namespace), 30,
               "the Service's slice listing the ready pods")  # fmt: skip
    eventually(lambda: _ready_now(kube, namespace, "responder"), 30, "the responder's slice listing it")


def _web_addresses(kube: Kube, namespace: str) -> set[str]:
    return {(_present(kube.pod(namespace, name)).get("status") or {}).get("podIP", "") for name in WEB}


def _never_without_endpoint(history: SliceHistory, service_name: str) -> None:
    """The stand-in came and went, and no state of the Service's slices lacked a ready endpoint."""
    stand_in = f"{service_name}-kubemaint"
    eventually(lambda: history.came_and_went(stand_in), 30, "the watch delivering the stand-in's end")
    states = history.close()
    empty = [state for state in states if not set().union(*state.values())]
    assert not empty, f"the Service had no ready endpoint (kube-proxy refuses then): {states}"
    present = [stand_in in state for state in states]
    before = states[present.index(False, present.index(True)) - 1]
    assert any(ready for name, ready in before.items() if name != stand_in), (
        f"the stand-in went before the Service's own slice listed a ready pod: {states}"
    )


def test_a_fully_gated_service_is_answered_by_the_responder_until_a_replica_is_ready(
    control_plane: ControlPlane,
    kube: Kube,
    start_operator: Any,
    responder: Responder,
    namespace: str,
    service_name: str,
) -> None:
    node = f"fake-node-{namespace}"
    operator = _serving(kube, start_operator, responder, namespace, service_name)
    with FakeKubelet(kube, namespace, node):
        _replicas_and_a_responder(kube, namespace, service_name, node)
        history = SliceHistory(kube, namespace, service_name)

        kube.apply(maintenance("m", namespace, service_name, reason="disk swap", retryAfterSeconds=90,
                               statusPage="https://status.example.com/"))  # fmt: skip
        found = _present(
            eventually(lambda: _stand_in(kube, namespace, service_name), 30, "the stand-in EndpointSlice")
        )
        assert _stand_in(kube, namespace, "responder") is None, "only Services of gated pods get one"
        uid = _present(kube.maintenance(namespace, "m"))["metadata"]["uid"]
        responder_ip = _present(kube.pod(namespace, "responder-1"))["status"]["podIP"]
        assert found["metadata"]["labels"] == {
            "kubernetes.io/service-name": service_name,
            "endpointslice.kubernetes.io/managed-by": "kubemaint.io",
        }
        assert [(o["kind"], o["name"], o["uid"]) for o in found["metadata"]["ownerReferences"]] == [
            ("Maintenance", "m", uid)
        ]
        assert [e["addresses"] for e in found["endpoints"]] == [[responder_ip]]
        assert {(p["name"], p["port"]) for p in found["ports"]} == {
            ("http", responder.first),
            ("admin", responder.first),
        }
        assert json.loads(found["metadata"]["annotations"]["kubemaint.io/value"])["reason"] == "disk swap"

        def answered() -> tuple[int, dict[str, str], bytes] | None:
            status, headers, body = responder.get(responder.first, "/users/7")
            return (status, headers, body) if b"disk swap" in body else None

        answer = eventually(answered, 30, "the responder answering with the maintenance's value")
        assert answer is not None
        status, headers, _ = answer
        assert status == 503
        assert headers["retry-after"] == "90"
        assert headers["x-maintenance"] == "on"
        assert headers["content-type"] == "application/problem+json"
        assert headers["link"] == '<https://status.example.com/>; rel="help"'
        status, headers, page = responder.get(responder.first, "/", accept="text/html")
        assert status == 503
        assert headers["content-type"].startswith("text/html")
        assert b"disk swap" in page
        assert responder.get(responder.first + 1)[1]["retry-after"] == "1", (
            "a port with no slice: coming back"
        )

        def unready() -> bool:
            return all(kube.condition(kube.pod(namespace, name), "Ready") == "False" for name in WEB)

        eventually(unready, 30, "the (simulated) kubelet taking the gated pods out of Ready")
        # The EndpointSlice controller lags (frozen here): a pod Ready again is no endpoint yet, and the
        # stand-in must stay until the Service's own slice lists one.
        controllers = control_plane.controller_manager.pid
        assert controllers is not None
        os.kill(controllers, signal.SIGSTOP)
        try:
            kube.kubectl("delete", "maint", "m", "-n", namespace, "--wait=false")
            eventually(lambda: not unready(), 30, "a replica Ready again")
            time.sleep(3)
            assert _stand_in(kube, namespace, service_name) is not None, (
                "the stand-in went while the Service's own slices listed no ready pod"
            )
        finally:
            os.kill(controllers, signal.SIGCONT)
        eventually(lambda: _stand_in(kube, namespace, service_name) is None, 30, "the stand-in gone")
        _never_without_endpoint(history, service_name)
    assert "stand-in" in operator.log()
    kube.kubectl("delete", "node", node, "--wait=false")


def test_the_stand_in_outlasts_a_kubelets_late_answer_to_a_short_maintenance(
    kube: Kube, start_operator: Any, responder: Responder, namespace: str, service_name: str
) -> None:
    """A maintenance shorter than the kubelet's reaction: its gates close and open again before the
    kubelet has answered the closed gate, so the pods are Ready and listed all along, and the kubelet's
    Ready False comes after the gates have opened. The stand-in must not go on that stale Ready (the real
    node's 20 flips under load found this: refused connections through the ClusterIP)."""
    node = f"fake-node-{namespace}"
    _serving(kube, start_operator, responder, namespace, service_name)
    with FakeKubelet(kube, namespace, node) as kubelet:
        _replicas_and_a_responder(kube, namespace, service_name, node)
        history = SliceHistory(kube, namespace, service_name)
        with kubelet.lagging():
            kube.apply(maintenance("short", namespace, service_name, reason="short"))
            eventually(lambda: _stand_in(kube, namespace, service_name), 30, "the stand-in EndpointSlice")
            eventually(lambda: all(kube.gate(namespace, name) == "False" for name in WEB), 30,
                       "the gates closed")  # fmt: skip
            kube.kubectl("delete", "maint", "short", "-n", namespace, "--wait=false")
            eventually(lambda: all(kube.gate(namespace, name) == "True" for name in WEB), 30,
                       "the gates open again")  # fmt: skip
            assert _web_addresses(kube, namespace) <= _ready_now(kube, namespace, service_name), (
                "the kubelet (lagging) has not taken the pods out: the Service's own slice lists them"
            )
            time.sleep(1.5)  # the old operator removed it within half a second of the opened gates
            lingering = _stand_in(kube, namespace, service_name)
            assert lingering is not None, "the stand-in went while the kubelet had yet to answer the gates"
            assert not lingering["metadata"].get("ownerReferences"), (
                "the stand-in still names the deleted Maintenance: the garbage collector would remove it"
            )
            for name in WEB:  # its answer to the closed gates, late
                kubelet.write_ready(name, False)
        # and now its answer to the opened ones
        eventually(lambda: _stand_in(kube, namespace, service_name) is None, 30, "the stand-in gone")
        _never_without_endpoint(history, service_name)
    kube.kubectl("delete", "node", node, "--wait=false")


def test_the_operator_sweeps_a_stand_in_that_no_maintenance_owns(
    kube: Kube, start_operator: Any, namespace: str, service_name: str
) -> None:
    kube.wait_default_account(namespace)
    kube.apply({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": f"{service_name}-kubemaint", "namespace": namespace,
                     "labels": {"kubernetes.io/service-name": service_name,
                                "endpointslice.kubernetes.io/managed-by": "kubemaint.io"}},
        "addressType": "IPv4", "endpoints": [{"addresses": ["10.244.9.9"]}],
        "ports": [{"name": "http", "port": 20000, "protocol": "TCP"}],
    })  # fmt: skip
    other = f"{service_name}-theirs"
    kube.apply({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": other, "namespace": namespace,
                     "labels": {"kubernetes.io/service-name": service_name}},
        "addressType": "IPv4", "endpoints": [{"addresses": ["10.244.9.8"]}],
    })  # fmt: skip
    start_operator(RESPONDER_SERVICE=f"{namespace}/responder")
    eventually(lambda: _stand_in(kube, namespace, service_name) is None, 30, "the ownerless stand-in swept")
    assert kube.get(f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices/{other}") is not None, (
        "a slice the operator does not manage stays"
    )
