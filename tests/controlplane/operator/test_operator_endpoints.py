"""EndpointSlices drop gated pods: the real endpointslice controller of kube-controller-manager takes the
pods out of the Service's ready endpoints when the operator sets their readiness gate False.

SIMULATED: the kubelet. There is no kubelet on this control plane, so test code (``FakeKubelet``) marks the
pods Running with a pod IP and computes their Ready condition from their containers and readiness gates, as
the kubelet does. The API server, the endpointslice controller and the operator are real.
"""

from __future__ import annotations

from typing import Any

from kube_support import FakeKubelet, Kube, OperatorProcess, maintenance, pod

from tests.support.polling import eventually


def _ready_addresses(kube: Kube, namespace: str, service: str) -> set[str]:
    slices = kube.get(
        f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
        f"?labelSelector=kubernetes.io/service-name%3D{service}"
    )
    ready: set[str] = set()
    for item in (slices or {}).get("items") or []:
        for endpoint in item.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready"):
                ready.add((endpoint.get("targetRef") or {}).get("name", ""))
    return ready


def _service(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"app.kubernetes.io/name": name},
            "ports": [{"name": "http", "port": 8081, "targetPort": 8081}],
        },
    }


def test_endpointslices_drop_gated_pods_and_take_them_back(
    kube: Kube, operator: OperatorProcess, namespace: str, service_name: str
) -> None:
    node = f"fake-node-{namespace}"
    kube.wait_default_account(namespace)
    kube.apply(_service(namespace, service_name))
    with FakeKubelet(kube, namespace, node):
        kube.apply(
            pod("web-1", namespace, service_name, node=node),
            pod("web-2", namespace, service_name, node=node),
            pod("no-gate", namespace, service_name, node=node, gate=False),
        )
        eventually(
            lambda: _ready_addresses(kube, namespace, service_name) == {"web-1", "web-2", "no-gate"},
            30,
            "all three pods ready in the EndpointSlice (the operator set the gate True)",
        )

        kube.apply(maintenance("m", namespace, service_name))
        eventually(
            lambda: _ready_addresses(kube, namespace, service_name) == {"no-gate"},
            30,
            "gated pods dropped from the ready endpoints",
        )
        assert kube.condition(kube.pod(namespace, "web-1"), "Ready") == "False"

        kube.kubectl("delete", "maint", "m", "-n", namespace)
        eventually(
            lambda: _ready_addresses(kube, namespace, service_name) == {"web-1", "web-2", "no-gate"},
            30,
            "pods back in the ready endpoints after the maintenance",
        )
    kube.kubectl("delete", "node", node, "--wait=false")
