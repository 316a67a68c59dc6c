"""The shipped CRD on a real API server: bad objects are refused by the server itself, the samples pass,
defaults are filled in, and kubectl shows the printer columns and knows the short name."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kube_support import SAMPLES_DIR, Kube, maintenance
from kubemaint_devstack.controlplane import KubectlError

pytestmark = pytest.mark.usefixtures("crds")


def _create(kube: Kube, obj: dict[str, Any]) -> None:
    kube.kubectl("create", "-f", "-", input=json.dumps(obj))


INVALID = [
    pytest.param({"reason": "no service"}, "spec.service: Required value", id="missing-service"),
    pytest.param({"service": "users", "mode": "sideways"}, "spec.mode: Unsupported value", id="bad-mode"),
    pytest.param(
        {"service": "users", "window": {"start": "2030-01-01T03:00:00Z", "end": "2030-01-01T02:00:00Z"}},
        "window.end must be after window.start",
        id="end-before-start",
    ),
    pytest.param(
        {"service": "users", "window": {"start": "2030-01-01T03:00:00Z", "end": "2030-01-01T03:00:00Z"}},
        "window.end must be after window.start",
        id="end-equals-start",
    ),
    pytest.param(
        {"service": "users", "retryAfterSeconds": 86401},
        "should be less than or equal to 86400",
        id="retry-too-large",
    ),
    pytest.param(
        {"service": "users", "retryAfterSeconds": -1},
        "should be greater than or equal to 0",
        id="retry-negative",
    ),
    pytest.param({"service": "users", "reason": "x" * 1025}, "Too long", id="reason-too-long"),
    pytest.param({"service": "users", "paths": []}, "should have at least 1 items", id="paths-empty"),
    pytest.param(
        {"service": "users", "paths": ["users"]}, "spec.paths[0] in body should match", id="path-no-slash"
    ),
    pytest.param(
        {"service": "users", "statusPage": "javascript:alert(1)"},
        "spec.statusPage in body should match",
        id="status-page-not-http",
    ),
    pytest.param(
        {"service": "users", "statusPage": 'https://x/"><script>'},
        "spec.statusPage in body should match",
        id="status-page-with-markup",
    ),
    pytest.param({"service": "Not_A_Name"}, "spec.service in body should match", id="service-not-dns"),
    pytest.param(
        {"service": "users", "window": {}}, "a window needs a start, an end or both", id="empty-window"
    ),
    pytest.param(
        {"service": "users", "etcd": {"secretRef": {"name": "s"}}},
        "etcd.secretRef needs etcd.endpoints",
        id="secret-without-endpoints",
    ),
    pytest.param(
        {"service": "users", "etcd": {"endpoints": ["http://127.0.0.1:99999"]}},
        "spec.etcd.endpoints[0] in body should match",
        id="endpoint-port-out-of-range",
    ),
    pytest.param(
        {"service": "users", "etcd": {"endpoints": ["127.0.0.1:0"]}},
        "spec.etcd.endpoints[0] in body should match",
        id="endpoint-port-zero",
    ),
    pytest.param(
        {"service": "users", "etcd": {"endpoints": ["http://[zz]:2379"]}},
        "spec.etcd.endpoints[0] in body should match",
        id="endpoint-bad-brackets",
    ),
    pytest.param(
        {
            "service": "users",
            "readiness": {"selector": {"matchExpressions": [{"key": "a", "operator": "In"}]}},
        },
        "In and NotIn need values",
        id="selector-in-without-values",
    ),
]


@pytest.mark.parametrize(("spec", "message"), INVALID)
def test_server_rejects_invalid_maintenance(
    kube: Kube, namespace: str, spec: dict[str, Any], message: str
) -> None:
    obj: dict[str, Any] = {
        "apiVersion": "kubemaint.io/v1alpha1",
        "kind": "Maintenance",
        "metadata": {"name": "bad", "namespace": namespace},
        "spec": spec,
    }
    with pytest.raises(KubectlError) as refused:
        _create(kube, obj)
    assert message in str(refused.value)
    assert kube.maintenance(namespace, "bad") is None


def test_service_is_immutable(kube: Kube, namespace: str) -> None:
    _create(kube, maintenance("m", namespace, "users", enabled=False))
    with pytest.raises(KubectlError) as refused:
        kube.kubectl(
            "patch", "maint", "m", "-n", namespace, "--type=merge", "-p", '{"spec":{"service":"other"}}'
        )
    assert "service is immutable" in str(refused.value)
    kube.kubectl("delete", "maint", "m", "-n", namespace)


def test_samples_are_accepted_by_the_server(kube: Kube, namespace: str) -> None:
    samples = sorted(SAMPLES_DIR.glob("*.yaml"))
    assert {p.name for p in samples} >= {
        "immediate.yaml",
        "read-only.yaml",
        "scheduled-window.yaml",
        "no-gate.yaml",
        "paths.yaml",
    }
    for sample in samples:
        out = kube.kubectl("create", "--dry-run=server", "-n", namespace, "-f", str(sample), "-o", "json")
        created = json.loads(out)
        assert created["kind"] == "Maintenance"
        assert created["spec"]["service"] == "users-service"


def test_server_fills_in_defaults(kube: Kube, namespace: str) -> None:
    _create(kube, maintenance("defaults", namespace, "users"))
    obj = kube.maintenance(namespace, "defaults")
    assert obj is not None
    assert obj["spec"] == {
        "service": "users",
        "enabled": True,
        "mode": "full",
        "retryAfterSeconds": 60,
        "readiness": {"gate": True},
    }
    kube.kubectl("delete", "maint", "defaults", "-n", namespace)


def test_kubectl_knows_short_name_and_columns(kube: Kube, namespace: str) -> None:
    _create(kube, maintenance("cols", namespace, "users", reason="Postgres upgrade", mode="read-only"))
    table = kube.kubectl("get", "maint", "-n", namespace)
    header, row = table.splitlines()[:2]
    assert header.split() == ["NAME", "SERVICE", "PHASE", "MODE", "REASON", "AGE"]
    assert row.split()[:2] == ["cols", "users"]
    assert "read-only" in row
    assert "Postgres upgrade" in row
    assert "cols" in kube.kubectl("get", "kubemaint", "-n", namespace)  # the category
    kube.kubectl("delete", "maint", "cols", "-n", namespace)
