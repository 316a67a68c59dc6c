"""The operator killed mid-reconcile and restarted, two replicas under kopf peering, and drift repair: in
every case the key, the pods and the objects end up right."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from kube_support import Kube, OperatorProcess, maintenance, pod
from kubemaint_devstack.etcd import EtcdServer

from tests.support.etcd_values import value_of
from tests.support.polling import eventually


def _enabled(etcd: EtcdServer, key: str) -> bool | None:
    value = value_of(etcd, key)
    return None if value is None else bool(value["enabled"])


def test_killed_mid_reconcile_and_restarted_ends_right(
    kube: Kube,
    etcd: EtcdServer,
    start_operator: Callable[..., OperatorProcess],
    namespace: str,
    service_name: str,
) -> None:
    first, second = service_name, f"{service_name}-b"
    kube.wait_default_account(namespace)
    kube.apply(pod("a1", namespace, first), pod("b1", namespace, second))
    operator = start_operator()
    kube.apply(maintenance("first", namespace, first))
    kube.wait_phase(namespace, "first", "Active")
    eventually(lambda: kube.gate(namespace, "a1") == "False", 10, "a1 gated")

    # A change arrives and the operator is killed (SIGKILL) while it handles it.
    kube.apply(maintenance("second", namespace, second, reason="mid-reconcile"))
    time.sleep(0.15)
    operator.kill()
    # While it is down: the first object is deleted (its finalizer holds it) and a pod appears.
    kube.kubectl("delete", "maint", "first", "-n", namespace, "--wait=false")
    kube.apply(pod("b2", namespace, second))
    time.sleep(1.0)
    held = kube.maintenance(namespace, "first")
    assert held is not None
    assert held["metadata"].get("deletionTimestamp"), "the finalizer holds the object"
    assert _enabled(etcd, f"/maintenance/{first}") is True, "nobody ended it while the operator was down"

    start_operator()
    kube.wait_gone(namespace, "first", 30)
    eventually(lambda: _enabled(etcd, f"/maintenance/{first}") is False, 10, "first key off")
    eventually(lambda: kube.gate(namespace, "a1") == "True", 10, "a1 serving again")
    second_value = eventually(lambda: value_of(etcd, f"/maintenance/{second}"), 10, "second key written")
    assert second_value["enabled"] is True
    assert second_value["reason"] == "mid-reconcile"
    obj = kube.wait_phase(namespace, "second", "Active")
    assert kube.condition(obj, "EtcdSynced") == "True"
    assert obj["status"]["etcd"]["revision"] > 0
    eventually(lambda: kube.gate(namespace, "b1") == "False", 10, "b1 gated")
    eventually(lambda: kube.gate(namespace, "b2") == "False", 10, "b2 (created while down) gated")


def test_two_replicas_do_not_fight_and_hand_over(
    kube: Kube,
    etcd: EtcdServer,
    start_operator: Callable[..., OperatorProcess],
    namespace: str,
    service_name: str,
) -> None:
    key = f"/maintenance/{service_name}"
    leader = start_operator(PEERING_PRIORITY="200")
    standby = start_operator(PEERING_PRIORITY="100")
    # kopf starts every replica paused until it has seen the peering object; only the leader resumes.
    eventually(lambda: "Resuming operations" in leader.log(), 20, "the leader runs")

    kube.apply(maintenance("m", namespace, service_name, reason="one writer"))
    obj = kube.wait_phase(namespace, "m", "Active")
    eventually(lambda: kube.condition(kube.maintenance(namespace, "m"), "Drained") is not None, 10, "settled")
    revision = int(etcd.etcdctl("get", key, "-w", "json").split('"mod_revision":')[1].split(",")[0])
    version = (kube.maintenance(namespace, "m") or {})["metadata"]["resourceVersion"]
    time.sleep(5)  # several resync periods of both replicas
    after = int(etcd.etcdctl("get", key, "-w", "json").split('"mod_revision":')[1].split(",")[0])
    assert after == revision, "the key was rewritten although nothing changed"
    assert (kube.maintenance(namespace, "m") or {})["metadata"]["resourceVersion"] == version, (
        "status ping-pong"
    )
    assert "Resuming operations" not in standby.log(), "the standby stayed paused"
    assert f"wrote {key}" in leader.log()
    assert f"wrote {key}" not in standby.log()
    assert obj["status"]["etcd"]["key"] == key

    leader.stop()  # a clean stop leaves the peering at once; the standby takes over
    eventually(lambda: "Resuming operations" in standby.log(), 30, "the standby resumes")
    kube.kubectl("delete", "maint", "m", "-n", namespace, "--wait=false")
    kube.wait_gone(namespace, "m", 30)
    assert _enabled(etcd, key) is False


def test_hand_edit_of_the_key_is_repaired_while_an_object_exists(
    kube: Kube, etcd: EtcdServer, operator: OperatorProcess, namespace: str, service_name: str
) -> None:
    key = f"/maintenance/{service_name}"
    kube.apply(maintenance("m", namespace, service_name, reason="keep me"))
    kube.wait_phase(namespace, "m", "Active")
    for edit in ("false", '{"enabled": false}', "{broken json"):
        etcd.put(key, edit)
        repaired = eventually(
            lambda: (v := value_of(etcd, key)) and v["enabled"] and v["reason"] == "keep me" and v,
            15,
            f"repair after {edit!r}",
        )
        assert repaired["sources"] == [f"{namespace}/m"]
    obj = kube.maintenance(namespace, "m")
    assert obj is not None
    assert kube.condition(obj, "EtcdSynced") == "True"

    kube.kubectl("delete", "maint", "m", "-n", namespace)
    eventually(lambda: _enabled(etcd, key) is False, 10, "key off")
    etcd.put(key, "true")  # no object left: a person's own edit is theirs
    time.sleep(4)
    assert etcd.get(key) == "true"


def test_hand_edit_is_repaired_at_once_by_the_key_watch(
    kube: Kube,
    etcd: EtcdServer,
    start_operator: Callable[..., OperatorProcess],
    namespace: str,
    service_name: str,
) -> None:
    """With the periodic resync pushed out of the picture, only the operator's etcd watch can repair."""
    start_operator(RESYNC_SECONDS="3600")
    key = f"/maintenance/{service_name}"
    kube.apply(maintenance("m", namespace, service_name, reason="watched"))
    kube.wait_phase(namespace, "m", "Active")
    time.sleep(1)
    for edit in ("false", "{broken json"):
        etcd.put(key, edit)
        started = time.monotonic()
        eventually(
            lambda: (v := value_of(etcd, key)) and v["enabled"] and v["reason"] == "watched",
            10,
            f"repair of {edit!r}",
        )
        print(f"hand edit {edit!r} repaired in {time.monotonic() - started:.2f} s")
    etcd.delete(key)
    eventually(lambda: (v := value_of(etcd, key)) and v["enabled"], 10, "repair of a deleted key")


def _events(kube: Kube, namespace: str, name: str, reason: str) -> int:
    listed = kube.kubectl(
        "get", "events", "-n", namespace, "-o", "json",
        "--field-selector", f"involvedObject.name={name},reason={reason}",
    )  # fmt: skip
    return len(json.loads(listed)["items"])


def test_a_replica_that_leads_again_works_from_the_status_of_the_replica_before_it(
    kube: Kube, start_operator: Callable[..., OperatorProcess], namespace: str, service_name: str
) -> None:
    first = start_operator(PEERING_PRIORITY="200")
    eventually(lambda: "Resuming operations" in first.log(), 20, "the first replica leads")
    kube.apply(maintenance("m", namespace, service_name))
    kube.wait_phase(namespace, "m", "Active")
    eventually(lambda: kube.condition(kube.maintenance(namespace, "m"), "Drained") is not None, 10, "settled")

    second = start_operator(PEERING_PRIORITY="300")  # takes over; the first one pauses, keeping its memory
    eventually(lambda: "Resuming operations" in second.log(), 30, "the second replica leads")
    eventually(lambda: "Pausing operations" in first.log(), 30, "the first replica pauses")
    kube.kubectl("patch", "maint", "m", "-n", namespace, "--type=merge", "-p", '{"spec":{"enabled":false}}')
    kube.wait_phase(namespace, "m", "Completed")
    eventually(lambda: _events(kube, namespace, "m", "Completed") == 1, 10, "the Completed event")

    second.stop()  # the first replica leads again; the status it wrote last is no longer the status
    eventually(lambda: first.log().count("Resuming operations") >= 2, 30, "the first replica resumes")
    time.sleep(5)  # several ticks of its timers and resyncs (RESYNC_SECONDS=2)
    obj = kube.maintenance(namespace, "m") or {}
    assert obj["status"]["phase"] == "Completed"
    assert _events(kube, namespace, "m", "Completed") == 1, "no transition replayed from a stale status"
    assert _events(kube, namespace, "m", "Active") == 1
