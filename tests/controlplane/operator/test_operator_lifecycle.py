"""A Maintenance applied and deleted on a real API server, with the operator as a real process under its
RBAC identity: the etcd key, the status, the pods' readiness gate, events and the finalizer."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from kube_support import Kube, OperatorProcess, maintenance, pod, script
from kubemaint_devstack.controlplane import KubectlError
from kubemaint_devstack.etcd import EtcdServer
from kubemaint_devstack.process import ManagedProcess

from tests.support.etcd_values import value_of
from tests.support.polling import eventually


def test_apply_writes_key_sets_status_and_gates_pods_then_delete_undoes_it(
    kube: Kube, etcd: EtcdServer, operator: OperatorProcess, namespace: str, service_name: str
) -> None:
    key = f"/maintenance/{service_name}"
    kube.wait_default_account(namespace)
    kube.apply(
        pod("gated-a", namespace, service_name),
        pod("gated-b", namespace, service_name),
        pod("plain", namespace, service_name, gate=False),
    )
    eventually(lambda: kube.gate(namespace, "gated-a") == "True", 20, "gate True before any maintenance")

    kube.apply(
        maintenance("upgrade", namespace, service_name, reason="Postgres 16 upgrade", retryAfterSeconds=300)
    )
    started = time.monotonic()
    # The bound only stops a hang on a loaded machine; how fast it is, is bench/apply_latency.py's to say
    # (p99 about 0.25 s from the apply on 2 cores). The print shows this run's figure.
    value = eventually(lambda: (v := value_of(etcd, key)) and v.get("enabled") and v, 15, "the JSON in etcd")
    print(f"apply -> etcd key: {time.monotonic() - started:.3f} s")
    assert value["mode"] == "full"
    assert value["reason"] == "Postgres 16 upgrade"
    assert value["retryAfter"] == 300
    assert value["until"] is None
    assert value["sources"] == [f"{namespace}/upgrade"]

    obj = kube.wait_phase(namespace, "upgrade", "Active")
    status = obj["status"]
    assert kube.condition(obj, "EtcdSynced") == "True"
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    assert status["etcd"]["key"] == key
    assert status["etcd"]["revision"] > 0
    assert "kubemaint.io/finalizer" in obj["metadata"]["finalizers"]
    eventually(lambda: kube.gate(namespace, "gated-a") == "False", 10, "gate False on gated-a")
    eventually(lambda: kube.gate(namespace, "gated-b") == "False", 10, "gate False on gated-b")
    obj = eventually(
        lambda: (
            (o := kube.maintenance(namespace, "upgrade")) and kube.condition(o, "PodsGated") == "True" and o
        ),
        10,
        "PodsGated True",
    )
    assert obj["status"]["pods"] == {"selected": 2, "gated": 2}, "selected counts pods that carry the gate"
    assert kube.gate(namespace, "plain") is None, "a pod without the gate is never touched"
    events = kube.kubectl("get", "events", "-n", namespace, "--field-selector", "involvedObject.name=upgrade")
    assert "Active" in events
    assert "AllReplicasGated" in events, "a Warning when every selected pod leaves the endpoints"

    kube.kubectl("delete", "maint", "upgrade", "-n", namespace, "--wait=false")
    eventually(lambda: (v := value_of(etcd, key)) is not None and v["enabled"] is False, 10, "key off")
    eventually(lambda: kube.gate(namespace, "gated-a") == "True", 10, "gate True again")
    eventually(lambda: kube.gate(namespace, "gated-b") == "True", 10, "gate True again")
    kube.wait_gone(namespace, "upgrade", 10)
    final = value_of(etcd, key)
    assert final is not None
    assert final["enabled"] is False
    assert final["sources"] == []


def test_new_pods_get_the_gate_promptly(
    kube: Kube, operator: OperatorProcess, namespace: str, service_name: str
) -> None:
    kube.wait_default_account(namespace)
    kube.apply(pod("before", namespace, service_name))
    eventually(lambda: kube.gate(namespace, "before") == "True", 10, "new pod outside maintenance: True")

    kube.apply(maintenance("m", namespace, service_name))
    kube.wait_phase(namespace, "m", "Active")
    kube.apply(pod("during", namespace, service_name))
    eventually(lambda: kube.gate(namespace, "during") == "False", 10, "new pod during maintenance: False")
    eventually(
        lambda: kube.gate(namespace, "before") == "False", 10, "existing pod during maintenance: False"
    )

    other = f"{service_name}-other"
    kube.apply(pod("unselected", namespace, other))
    eventually(lambda: kube.gate(namespace, "unselected") == "True", 10, "pod of another service: True")

    kube.kubectl("delete", "maint", "m", "-n", namespace)
    kube.apply(pod("after", namespace, service_name))
    eventually(lambda: kube.gate(namespace, "after") == "True", 10, "new pod after maintenance: True")
    eventually(lambda: kube.gate(namespace, "during") == "True", 10, "gated pod released: True")


def test_two_objects_merge_and_deleting_one_keeps_the_other(
    kube: Kube, etcd: EtcdServer, operator: OperatorProcess, namespace: str, service_name: str
) -> None:
    key = f"/maintenance/{service_name}"
    kube.apply(
        maintenance("reads", namespace, service_name, mode="read-only", reason="reindex",
                    retryAfterSeconds=30),
        maintenance("full", namespace, service_name, reason="upgrade", retryAfterSeconds=120,
                    window={"end": "2099-01-01T00:00:00Z"}),
    )  # fmt: skip
    value = eventually(
        lambda: (v := value_of(etcd, key)) and len(v.get("sources", [])) == 2 and v, 10, "both objects merged"
    )
    assert value["enabled"] is True
    assert value["mode"] == "full", "full wins over read-only"
    assert value["retryAfter"] == 120, "the largest retryAfter wins"
    assert value["until"] is None, "no end beats any end"
    assert value["sources"] == [f"{namespace}/full", f"{namespace}/reads"]
    assert set(value["reason"].split("; ")) == {"reindex", "upgrade"}

    kube.kubectl("delete", "maint", "full", "-n", namespace)
    value = eventually(
        lambda: (v := value_of(etcd, key)) and v.get("sources") == [f"{namespace}/reads"] and v,
        10,
        "one left",
    )
    assert value["enabled"] is True
    assert value["mode"] == "read-only"
    assert value["retryAfter"] == 30
    assert kube.wait_phase(namespace, "reads", "Active")


def test_status_pages_reach_the_key_merge_and_follow_a_spec_change(
    kube: Kube, etcd: EtcdServer, operator: OperatorProcess, namespace: str, service_name: str
) -> None:
    key = f"/maintenance/{service_name}"
    kube.apply(
        maintenance("b", namespace, service_name, statusPage="https://status.example.com/b"),
        maintenance("a", namespace, service_name, statusPage="https://status.example.com/a"),
    )
    value = eventually(
        lambda: (v := value_of(etcd, key)) and len(v.get("sources", [])) == 2 and v, 10, "both objects merged"
    )
    assert value["statusPage"] == "https://status.example.com/a", "of several pages the first in order"
    kube.kubectl("delete", "maint", "a", "-n", namespace)
    page_b = "https://status.example.com/b"
    eventually(lambda: (value_of(etcd, key) or {}).get("statusPage") == page_b, 10, "b's page")
    kube.apply(maintenance("b", namespace, service_name))
    eventually(lambda: "statusPage" not in (value_of(etcd, key) or {"statusPage": 1}), 10, "no page left")


def test_paths_of_objects_on_one_key_are_merged_into_a_union(
    kube: Kube, etcd: EtcdServer, operator: OperatorProcess, namespace: str, service_name: str
) -> None:
    key = f"/maintenance/{service_name}"
    kube.apply(
        maintenance("users", namespace, service_name, paths=["/users/*"]),
        maintenance("orders", namespace, service_name, paths=["/orders"]),
    )
    value = eventually(
        lambda: (v := value_of(etcd, key)) and len(v.get("sources", [])) == 2 and v, 10, "both objects merged"
    )
    assert value["paths"] == ["/orders", "/users/*"]
    kube.apply(maintenance("everything", namespace, service_name))
    eventually(
        lambda: (v := value_of(etcd, key)) and len(v.get("sources", [])) == 3 and "paths" not in v,
        10,
        "an object without paths covers every path",
    )


def test_disabling_ends_the_maintenance_but_keeps_the_object(
    kube: Kube, etcd: EtcdServer, operator: OperatorProcess, namespace: str, service_name: str
) -> None:
    key = f"/maintenance/{service_name}"
    kube.apply(maintenance("m", namespace, service_name))
    kube.wait_phase(namespace, "m", "Active")
    kube.kubectl("patch", "maint", "m", "-n", namespace, "--type=merge", "-p", '{"spec":{"enabled":false}}')
    eventually(lambda: (v := value_of(etcd, key)) is not None and v["enabled"] is False, 10, "key off")
    obj = kube.wait_phase(namespace, "m", "Completed")
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"] == 2


@pytest.mark.parametrize("gate", [True, False], ids=["gate", "no-gate"])
def test_gate_false_keeps_pods_serving(
    kube: Kube, operator: OperatorProcess, namespace: str, service_name: str, gate: bool
) -> None:
    kube.wait_default_account(namespace)
    kube.apply(pod("p", namespace, service_name))
    eventually(lambda: kube.gate(namespace, "p") == "True", 10, "gate True")
    kube.apply(maintenance("m", namespace, service_name, readiness={"gate": gate}))
    kube.wait_phase(namespace, "m", "Active")
    expected = "False" if gate else "True"
    eventually(lambda: kube.gate(namespace, "p") == expected, 10, f"gate {expected}")
    time.sleep(2.5)  # and it stays so across the periodic reconciles (RESYNC_SECONDS=2 in these tests)
    assert kube.gate(namespace, "p") == expected
    obj = eventually(
        lambda: (o := kube.maintenance(namespace, "m")) and kube.condition(o, "PodsGated") == str(gate) and o,
        10,
        f"PodsGated {gate}",
    )
    reason = next(c["reason"] for c in obj["status"]["conditions"] if c["type"] == "PodsGated")
    assert reason == ("Gated" if gate else "GateDisabled")


def test_kopf_run_module_runs_the_same_operator(
    kube: Kube, etcd: EtcdServer, operator_kubeconfig: Path, namespace: str, service_name: str, tmp_path: Path
) -> None:
    """``kopf run -m kubemaint_operator`` (kopf's own CLI) registers the same handlers."""
    env = {**os.environ, "KUBECONFIG": str(operator_kubeconfig), "ETCD_ENDPOINTS": etcd.endpoint}
    process = ManagedProcess(
        "kopf-run",
        [script("kopf"), "run", "-m", "kubemaint_operator", "--all-namespaces", "--standalone"],
        tmp_path / "kopf-run.log",
        env=env,
    )
    process.start()
    try:
        kube.apply(maintenance("m", namespace, service_name, reason="via kopf run"))
        value = eventually(lambda: value_of(etcd, f"/maintenance/{service_name}"), 30, "key written")
        assert value["reason"] == "via kopf run"
        kube.wait_phase(namespace, "m", "Active")
        kube.kubectl("delete", "maint", "m", "-n", namespace, "--timeout=30s")
    finally:
        process.stop()


def _hold_pod_status(kube: Kube, namespace: str) -> str:
    """A ValidatingAdmissionPolicy (in the API server itself) refusing pod status updates in
    ``namespace``: the operator's patches fail as they would on an API server that is briefly unwell."""
    name = f"hold-pod-status-{namespace}"
    kube.apply(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"],
                         "resources": ["pods/status"]}
                    ]
                },
                "validations": [{"expression": "false", "message": "pod status is held by the test"}],
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {
                "policyName": name,
                "validationActions": ["Deny"],
                "matchResources": {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
                },
            },
        },
    )  # fmt: skip
    return name


def test_a_failed_gate_patch_of_a_new_pod_is_retried_until_it_lands(
    kube: Kube, operator: OperatorProcess, namespace: str, service_name: str
) -> None:
    kube.wait_default_account(namespace)
    kube.apply(pod("probe", namespace, service_name, gate=False))
    held = _hold_pod_status(kube, namespace)
    try:
        patch = '{"status":{"conditions":[{"type":"Probe","status":"True"}]}}'

        def refused() -> bool:
            try:
                kube.kubectl("patch", "pod", "probe", "-n", namespace, "--subresource=status", "-p", patch)
            except KubectlError as exc:
                return "held by the test" in str(exc)
            return False

        eventually(refused, 30, "the policy in force")
        kube.apply(pod("new", namespace, service_name))
        eventually(lambda: f"{namespace}/new" in operator.log(), 20, "a refused gate patch logged")
        assert kube.gate(namespace, "new") is None, "the policy held the patch"
    finally:
        kube.kubectl("delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", held)
    # kopf never retries an event handler, and nothing else would touch this pod again.
    eventually(lambda: kube.gate(namespace, "new") == "True", 30, "the gate set once the API server takes it")


def test_an_object_the_operator_cannot_read_can_still_be_deleted(
    kube: Kube, operator: OperatorProcess, namespace: str, service_name: str
) -> None:
    # A bracketed host the CRD's pattern admits but the client refuses (no IPv6 address): the CRD's
    # pattern cannot say everything the parser checks.
    kube.apply(maintenance("odd", namespace, service_name, etcd={"endpoints": ["http://[abc]:2379"]}))
    eventually(lambda: "spec.etcd.endpoints" in operator.log(), 20, "the unreadable spec reported")

    def finalized() -> bool:  # kopf patches the finalizer in on its own cycle, after the index saw the object
        obj = kube.maintenance(namespace, "odd") or {}
        return "kubemaint.io/finalizer" in (obj.get("metadata", {}).get("finalizers") or [])

    eventually(finalized, 20, "the finalizer in place")
    kube.kubectl("delete", "maint", "odd", "-n", namespace, "--timeout=30s")
    kube.wait_gone(namespace, "odd", 10)
    assert "releasing a Maintenance whose spec cannot be read" in operator.log()
    assert "Traceback" not in operator.log(), "its timers and indexes skip it instead of raising"
