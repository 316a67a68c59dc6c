"""Status, conditions (metav1.Condition shape), events and pod gate patches (pure builders)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kubemaint.acks import Ack
from kubemaint_operator.conditions import Condition, condition_status, render_conditions
from kubemaint_operator.events import transition_events
from kubemaint_operator.gates import GATE_TYPE, PodView, gate_patch, has_gate, serving_decision
from kubemaint_operator.labels import matches
from kubemaint_operator.model import LabelSelector, MaintenanceObject, MaintenanceSpec, Requirement
from kubemaint_operator.status import Findings, build_status, count_replicas, status_patch
from kubemaint_operator.windows import Phase

NOW = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
OBJ = MaintenanceObject(namespace="shop", name="db", spec=MaintenanceSpec(service="users"), generation=3)


def _conditions(status: dict[str, object]) -> dict[str, dict[str, object]]:
    return {c["type"]: c for c in status["conditions"]}  # type: ignore[attr-defined, index]


def test_conditions_have_metav1_shape_and_keep_transition_time() -> None:
    first = render_conditions([Condition("Ready", True, "Active", "ok")], [], 3, NOW)
    assert first == [
        {
            "type": "Ready",
            "status": "True",
            "observedGeneration": 3,
            "lastTransitionTime": "2026-12-01T02:30:00Z",
            "reason": "Active",
            "message": "ok",
        }
    ]
    later = NOW + timedelta(minutes=1)
    same = render_conditions([Condition("Ready", True, "Active", "still")], first, 4, later)
    assert same[0]["lastTransitionTime"] == "2026-12-01T02:30:00Z"
    assert same[0]["observedGeneration"] == 4
    flipped = render_conditions([Condition("Ready", False, "Failed", "no")], first, 4, later)
    assert flipped[0]["lastTransitionTime"] == "2026-12-01T02:31:00Z"
    assert condition_status(flipped, "Ready") == "False"
    assert (
        render_conditions([Condition("Drained", None, "Unknown", "?")], [], 1, NOW)[0]["status"] == "Unknown"
    )


def test_active_status_with_synced_key_gated_pods_and_drained_replicas() -> None:
    seen = Findings(
        phase=Phase.ACTIVE, key="/maintenance/users", revision=42,
        replicas=count_replicas([Ack("a", 42, True, 0), Ack("b", 43, True, 0)], 42),
        pods_selected=2, pods_gated=2,
    )  # fmt: skip
    status = build_status(OBJ, seen, {}, NOW)
    assert status["phase"] == "Active"
    assert status["observedGeneration"] == 3
    assert status["activeSince"] == "2026-12-01T02:30:00Z"
    assert status["etcd"] == {"key": "/maintenance/users", "revision": 42}
    assert status["replicas"] == {"acknowledged": 2, "live": 2}
    assert status["pods"] == {"selected": 2, "gated": 2}
    conditions = _conditions(status)
    assert {t: c["status"] for t, c in conditions.items()} == {
        "Ready": "True", "EtcdSynced": "True", "PodsGated": "True", "Drained": "True",
    }  # fmt: skip


def test_drained_waits_for_every_live_replica_at_the_current_revision() -> None:
    acks = [Ack("a", 42, True, 0), Ack("b", 41, True, 0), Ack("c", 42, False, 0)]
    assert count_replicas(acks, 42).acknowledged == 1
    assert count_replicas(acks, 42).live == 3
    assert count_replicas([Ack("a", 42, True, 2, drained=False)], 42).acknowledged == 0
    seen = Findings(phase=Phase.ACTIVE, key="/k", revision=42, replicas=count_replicas(acks, 42))
    drained = _conditions(build_status(OBJ, seen, {}, NOW))["Drained"]
    assert (drained["status"], drained["reason"]) == ("False", "WaitingForReplicas")
    none = Findings(phase=Phase.ACTIVE, key="/k", revision=42, replicas=count_replicas([], 42))
    assert _conditions(build_status(OBJ, none, {}, NOW))["Drained"]["reason"] == "NoReplicas"


def test_etcd_failure_makes_the_object_failed_and_not_ready() -> None:
    seen = Findings(phase=Phase.ACTIVE, key="/k", etcd_error="UNAVAILABLE: connection refused")
    status = build_status(OBJ, seen, {"etcd": {"key": "/k", "revision": 7}}, NOW)
    assert status["phase"] == "Failed"
    assert status["etcd"] == {"key": "/k", "revision": 7}, "the last known revision is kept"
    conditions = _conditions(status)
    assert conditions["EtcdSynced"]["status"] == "False"
    assert conditions["Ready"]["status"] == "False"
    assert "connection refused" in str(conditions["Ready"]["message"])


def test_scheduled_is_ready_but_not_gating_or_drained() -> None:
    status = build_status(OBJ, Findings(phase=Phase.SCHEDULED, key="/k", revision=3), {}, NOW)
    conditions = _conditions(status)
    assert status["phase"] == "Scheduled"
    assert status["activeSince"] is None
    assert conditions["Ready"]["status"] == "True"
    assert conditions["PodsGated"]["reason"] == "NotActive"
    assert conditions["Drained"]["reason"] == "NotActive"


def test_active_since_is_kept_while_active() -> None:
    seen = Findings(phase=Phase.ACTIVE, key="/k", revision=3)
    first = build_status(OBJ, seen, {}, NOW)
    again = build_status(OBJ, seen, first, NOW + timedelta(hours=1))
    assert again["activeSince"] == first["activeSince"]
    assert status_patch(again, first) == {}


def test_status_patch_holds_only_changed_fields() -> None:
    assert status_patch(
        {"phase": "Active", "pods": {"gated": 1}}, {"phase": "Active", "pods": {"gated": 0}}
    ) == {"pods": {"gated": 1}}


def test_events_on_phase_change_drained_and_all_pods_gated() -> None:
    before = build_status(OBJ, Findings(phase=Phase.SCHEDULED, key="/k", revision=1), {}, NOW)
    seen = Findings(
        phase=Phase.ACTIVE, key="/k", revision=2, replicas=count_replicas([Ack("a", 2, True, 0)], 2),
        pods_selected=2, pods_gated=2,
    )  # fmt: skip
    after = build_status(OBJ, seen, before, NOW)
    notes = {(n.type, n.reason) for n in transition_events(before, after)}
    assert notes == {("Normal", "Active"), ("Normal", "Drained"), ("Warning", "AllReplicasGated")}
    assert transition_events(after, after) == []
    with_stand_in = {(n.type, n.reason) for n in transition_events(before, after, stand_in=True)}
    assert ("Normal", "AllReplicasGated") in with_stand_in, "the responder answers: nothing to warn about"


def test_gate_decision_only_for_active_gating_objects_of_the_namespace() -> None:
    labels = {"app.kubernetes.io/name": "users"}
    assert serving_decision("shop", labels, [OBJ], NOW).serving is False
    assert serving_decision("shop", labels, [OBJ], NOW).sources == ("shop/db",)
    assert serving_decision("other", labels, [OBJ], NOW).serving is True
    assert serving_decision("shop", {"app.kubernetes.io/name": "web"}, [OBJ], NOW).serving is True
    no_gate = MaintenanceObject(namespace="shop", name="n", spec=MaintenanceSpec(service="users", gate=False))
    assert serving_decision("shop", labels, [no_gate], NOW).serving is True
    disabled = MaintenanceObject(
        namespace="shop", name="d", spec=MaintenanceSpec(service="users", enabled=False)
    )
    assert serving_decision("shop", labels, [disabled], NOW).serving is True


def test_gate_patch_is_a_strategic_merge_of_one_condition() -> None:
    patch = gate_patch(serving_decision("shop", {"app.kubernetes.io/name": "users"}, [OBJ], NOW), NOW)
    (condition,) = patch["status"]["conditions"]
    assert condition["type"] == GATE_TYPE
    assert condition["status"] == "False"
    assert "shop/db" in condition["message"]


def test_pods_without_the_gate_are_not_ours() -> None:
    assert has_gate({"readinessGates": [{"conditionType": GATE_TYPE}]})
    assert not has_gate({"readinessGates": [{"conditionType": "other"}]})
    assert not has_gate({})


def test_pod_view_reads_the_gate_condition() -> None:
    body = {
        "metadata": {"namespace": "shop", "name": "p", "labels": {"a": "b"}},
        "status": {
            "conditions": [{"type": GATE_TYPE, "status": "False"}, {"type": "Ready", "status": "True"}]
        },
    }
    view = PodView.from_body(body)
    assert view.serving is False
    assert view.ready is True
    assert view.labels == (("a", "b"),)
    assert PodView.from_body({"metadata": {"name": "new"}}).serving is None


def test_label_selector_matches_like_the_api_server() -> None:
    selector = LabelSelector(
        match_labels=(("app", "users"),),
        match_expressions=(
            Requirement("tier", "In", ("web", "api")),
            Requirement("canary", "DoesNotExist"),
            Requirement("zone", "NotIn", ("b",)),
            Requirement("team", "Exists"),
        ),
    )
    assert matches(selector, {"app": "users", "tier": "api", "team": "x"})
    assert not matches(selector, {"app": "users", "tier": "db", "team": "x"})
    assert not matches(selector, {"app": "users", "tier": "api", "team": "x", "canary": "1"})
    assert not matches(selector, {"app": "users", "tier": "api", "team": "x", "zone": "b"})
    assert not matches(selector, {"app": "users", "tier": "api"})
    assert matches(LabelSelector(), {"anything": "goes"})


def test_active_since_survives_a_brief_etcd_failure() -> None:
    active = build_status(OBJ, Findings(phase=Phase.ACTIVE, key="/k", revision=3), {}, NOW)
    broken = Findings(phase=Phase.ACTIVE, key="/k", etcd_error="UNAVAILABLE: connection refused")
    failed = build_status(OBJ, broken, active, NOW + timedelta(minutes=1))
    assert failed["phase"] == "Failed"
    still_failed = build_status(OBJ, broken, failed, NOW + timedelta(minutes=2))
    back = build_status(
        OBJ, Findings(phase=Phase.ACTIVE, key="/k", revision=4), still_failed, NOW + timedelta(minutes=3)
    )
    assert back["phase"] == "Active"
    assert back["activeSince"] == active["activeSince"] == "2026-12-01T02:30:00Z"


def test_active_since_restarts_when_a_new_activation_meets_an_etcd_failure() -> None:
    done = {"phase": "Completed", "activeSince": "2026-11-30T00:00:00Z"}
    broken = Findings(phase=Phase.ACTIVE, key="/k", etcd_error="UNAVAILABLE: connection refused")
    failed = build_status(OBJ, broken, done, NOW)
    back = build_status(
        OBJ, Findings(phase=Phase.ACTIVE, key="/k", revision=4), failed, NOW + timedelta(minutes=1)
    )
    assert back["activeSince"] == "2026-12-01T02:30:00Z", "re-enabled now, not at the old activation"
    ended = build_status(OBJ, Findings(phase=Phase.COMPLETED, key="/k", revision=5), back, NOW)
    assert ended["activeSince"] == back["activeSince"]


def test_acks_that_cannot_be_listed_leave_drained_unknown_not_failed() -> None:
    before = build_status(
        OBJ,
        Findings(
            phase=Phase.ACTIVE, key="/k", revision=4, replicas=count_replicas([Ack("a", 4, True, 0)], 4)
        ),
        {},
        NOW,
    )
    seen = Findings(
        phase=Phase.ACTIVE, key="/k", revision=4, ack_error="PERMISSION_DENIED: etcdserver: permission denied"
    )
    status = build_status(OBJ, seen, before, NOW + timedelta(minutes=1))
    assert status["phase"] == "Active"
    assert status["activeSince"] == before["activeSince"]
    assert status["replicas"] == {"acknowledged": 1, "live": 1}, "the last count stays"
    conditions = _conditions(status)
    assert conditions["EtcdSynced"]["status"] == "True"
    assert conditions["Ready"]["status"] == "True"
    assert (conditions["Drained"]["status"], conditions["Drained"]["reason"]) == (
        "Unknown",
        "AcksUnavailable",
    )
    assert "permission denied" in str(conditions["Drained"]["message"])
    assert [(n.type, n.reason) for n in transition_events(before, status)] == []
