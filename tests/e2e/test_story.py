"""The story on real pods, the same on kind and on the local node (conftest.py picks the cluster): the
umbrella chart installed by `helm install --wait` (operator x2 under peering, users service x3 behind the
gate, dev PostgreSQL and etcd) in a namespace that enforces the restricted Pod Security Standard; the seed's
curl story through `kubectl port-forward`; Maintenances applied with kubectl, seen through the port-forward
and through the Service's ClusterIP from a pod; a pod replaced and the active operator deleted during a
maintenance; `helm upgrade` under a client loop; `helm test`; `helm uninstall`.

The chapters run in this order and share the release (module scope). The timeouts only stop a hang."""

from __future__ import annotations

import json
import os
import random
import secrets
import subprocess
import threading
import time
from typing import Any

import pytest
from e2ekit import GATE, STACK, Answer, Changes, Stack, conditions, request

from tests.support.polling import seconds_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]


RESPONDER = "app.kubernetes.io/component=responder"


def _http(stack: Stack, base: str, path: str = "/users") -> tuple[int, str | None]:
    status, headers, _ = request(base + path)
    return status, {k.lower(): v for k, v in headers.items()}.get("retry-after")


def test_every_pod_of_the_stack_runs_in_a_real_container(stack: Stack) -> None:
    pods = stack.get("pods")["items"]
    names = sorted(p["metadata"]["name"] for p in pods)
    assert sum(f"{stack.release}-users-service-" in n for n in names) == 3, names
    responders = [n for n in names if f"{stack.release}-kubemaint-operator-responder-" in n]
    assert len(responders) == 2, names
    assert sum(f"{stack.release}-kubemaint-operator-" in n for n in names) - len(responders) == 2, names
    for pod in pods:
        status = pod["status"]
        assert status["phase"] == "Running", (pod["metadata"]["name"], status.get("phase"))
        for container in status["containerStatuses"]:
            assert container["ready"], (pod["metadata"]["name"], container)
            assert container["restartCount"] == 0, (pod["metadata"]["name"], container["restartCount"])
    for pod in stack.pods():
        assert conditions(pod)[GATE] == "True", "the operator opened the gate of every service pod"
    stack.start_client()


def test_the_curl_story_through_a_port_forward(stack: Stack) -> None:
    with stack.port_forward() as base:
        status, _, users = request(f"{base}/users")
        assert status == 200
        assert isinstance(users, list)
        email = f"ada-{secrets.token_hex(3)}@example.com"
        status, _, created = request(f"{base}/users", "POST", {"name": "Ada Lovelace", "email": email})
        assert status == 201, created
        status, _, got = request(f"{base}/users/{created['id']}")
        assert (status, got["name"], got["email"]) == (200, "Ada Lovelace", email)
        renamed = {"name": "Ada King", "email": f"king-{secrets.token_hex(3)}@example.com"}
        status, _, updated = request(f"{base}/users/{created['id']}", "PUT", renamed)
        assert (status, updated["name"]) == (200, "Ada King"), updated
        status, _, problem = request(f"{base}/users/999999999")
        assert status == 404, problem
        for path in ("/health", "/stats"):
            assert request(base + path)[0] == 200, path
        assert request(f"{base}/users/{created['id']}", "DELETE")[0] == 204


def test_helm_test_passes_on_real_pods(stack: Stack) -> None:
    out = stack.helm("test", stack.release, "--timeout", "3m")
    assert "Succeeded" in out, out
    assert "Failed" not in out, out


def test_a_maintenance_without_the_gate_drains_and_answers_503_everywhere(stack: Stack) -> None:
    started = time.monotonic()
    stack.apply_maintenance("no-gate", gate=False, retry_after=120)
    stack.kubectl("wait", "--for=condition=Drained", "maint/no-gate", "--timeout=90s")
    print(f"Drained on the acks of 3 real pods {time.monotonic() - started:.2f} s after the apply")
    assert stack.get("maint", "no-gate")["status"]["replicas"]["acknowledged"] == 3
    with stack.port_forward() as base:
        assert _http(stack, base) == (503, "120")
        answer = stack.from_cluster("/users")
        assert (answer.status, answer.retry_after) == (503, "120"), answer
        for pod in stack.pods():  # no gate: the pods stay in the Service, answering 503 themselves
            assert conditions(pod)["Ready"] == "True"
        stack.kubectl("delete", "maint/no-gate", "--timeout=60s")
        seconds_until("200 through the port-forward", lambda: _http(stack, base)[0] == 200, timeout=30)
        seconds_until(
            "200 through the ClusterIP", lambda: stack.from_cluster("/users").status == 200, timeout=30
        )


def test_with_the_gate_the_pods_leave_the_service_and_come_back(stack: Stack) -> None:
    stack.apply_maintenance("gated", gate=True, retry_after=60)
    stack.kubectl("wait", "--for=condition=Drained", "maint/gated", "--timeout=90s")
    took = seconds_until("every pod Ready=False through the gate",
                         lambda: all(conditions(p)["Ready"] == "False" for p in stack.pods()))  # fmt: skip
    print(f"pods unready {took:.2f} s after Drained")
    for pod in stack.pods():
        assert conditions(pod)[GATE] == "False"
        assert all(c["ready"] for c in pod["status"]["containerStatuses"]), "the containers stay ready"
    seconds_until("no ready endpoint in the EndpointSlice", lambda: stack.ready_endpoints() == [])
    # Every replica is out, so the operator's stand-in slice sends the Service's clients to the responder,
    # which answers with the maintenance's own 503 (through kube-proxy, from a pod).
    responders = {p["status"]["podIP"] for p in stack.get("pods", "-l", RESPONDER)["items"]}
    seconds_until("the stand-in slice pointing at the responder",
                  lambda: set(stack.ready_endpoints("kubemaint.io")) == responders != set())  # fmt: skip
    answers = [stack.from_cluster("/users") for _ in range(5)]
    assert all(a == Answer(503, "60") for a in answers), f"the responder behind the ClusterIP: {answers}"
    with stack.port_forward() as base:  # a port-forward goes to a pod itself, past the Service
        assert _http(stack, base) == (503, "60")
    stack.kubectl("delete", "maint/gated", "--timeout=60s")
    stack.wait_all_ready()
    seconds_until("3 ready endpoints", lambda: len(stack.ready_endpoints()) == 3)
    seconds_until("the stand-in gone", lambda: stack.ready_endpoints("kubemaint.io") == [], timeout=30)
    # kube-proxy applies the slice's removal at its next sync; until then the responder still answers,
    # with 503 and Retry-After: 1 (the stand-in's "coming back" answer), never a refused connection.
    last: list[Answer] = []

    def served() -> bool:
        last.append(stack.from_cluster("/users"))
        assert last[-1].status in (200, 503), last[-1]
        return last[-1].status == 200

    took = seconds_until("200 through the ClusterIP", served, timeout=30)
    print(f"ClusterIP answers 200 {took:.1f} s after the stand-in's removal ({len(last)} tries: {last[:3]})")


FLIPS = 20


def test_twenty_flips_under_load_through_the_cluster_ip_lose_no_request(stack: Stack) -> None:
    """Issue 11's transitions under load: GETs through the ClusterIP (kube-proxy) from a pod, while a
    Maintenance is applied and deleted 20 times, gated and not by turns. Every answer is a 2xx or the
    intended 503 with Retry-After: no other status, no reset, no request cut or left hanging."""
    flips: list[float] = []
    marks: list[tuple[float, str]] = []  # (time.time(), what began): the node's clock, as the client's
    with stack.slice_history() as slices, stack.client_loop("/users", pause=0, workers=8) as outcome:
        time.sleep(2)
        for n in range(FLIPS):
            gate = n % 2 == 1
            started = time.monotonic()
            marks.append((time.time(), f"flip-{n}{' gated' if gate else ''}"))
            stack.apply_maintenance(f"flip-{n}", gate=gate, retry_after=5)
            stack.kubectl("wait", "--for=condition=Drained", f"maint/flip-{n}", "--timeout=90s")
            if gate:
                seconds_until("the stand-in in place",
                              lambda: stack.ready_endpoints("kubemaint.io") != [])  # fmt: skip
            marks.append((time.time(), f"delete flip-{n}"))
            stack.kubectl("delete", f"maint/flip-{n}", "--timeout=60s")
            stack.wait_all_ready()
            flips.append(time.monotonic() - started)
        time.sleep(2)
    counts, seconds = outcome["counts"], outcome["seconds"]
    total = sum(counts.values())
    print(f"{FLIPS} flips in {sum(flips):.0f} s (median {sorted(flips)[FLIPS // 2]:.1f} s each) under "
          f"{total / seconds:.0f} requests/s through the ClusterIP: {counts}")  # fmt: skip
    gaps = _without_endpoint(slices)
    print("spans without a ready endpoint in the Service's slices:", [(round(a - outcome["began"], 2),
          round(b - outcome["began"], 2)) for a, b in gaps])  # fmt: skip
    if counts.get("other", 0) or gaps:
        _explain(stack, outcome, marks, slices)
    assert counts.get("other", 0) == 0, outcome["errors"]
    assert not gaps, "the Service's slices listed no ready endpoint (kube-proxy refuses connections then)"
    assert counts.get("2xx", 0) > 0
    assert counts.get("503+retry-after", 0) > 0


def _without_endpoint(slices: Changes) -> list[tuple[float, float]]:
    """The spans (from, to) of ``slices`` (a :meth:`Stack.slice_history`) in which no slice of the Service
    listed a ready endpoint: kube-proxy refuses its connections then."""
    ready: dict[str, tuple[str, ...]] = {}
    spans, since = [], None
    for at, name, addresses in slices:
        if addresses is None:
            ready.pop(name, None)
        else:
            ready[name] = addresses
        if not any(ready.values()) and since is None:
            since = at
        elif any(ready.values()) and since is not None:
            spans.append((since, at))
            since = None
    return spans


def _explain(stack: Stack, outcome: dict[str, Any], marks: list[tuple[float, str]], slices: Changes) -> None:
    """Print a failed run of the flips on one clock (seconds since the client loop began): its errors,
    each flip's edges, every change of the Service's slices, the namespace's events and the operators'
    and responders' log lines, for the next fix to start from."""
    began = outcome["began"]
    print("errors:", [(e["t"], e.get("status"), e.get("error", "")[:60]) for e in outcome["errors"]])
    print("flips:", [(round(at - began, 2), what) for at, what in marks])
    for at, name, addresses in slices:
        print(f"  slices at {at - began:7.2f} s: {name} {addresses}")
    print(stack.run_kubectl("get", "events", "--sort-by=.lastTimestamp").stdout)
    for pod in stack.get("pods", "-l", "app.kubernetes.io/name=kubemaint-operator")["items"]:
        name = pod["metadata"]["name"]
        logs = stack.run_kubectl("logs", name, "--all-containers", "--timestamps", "--tail=600").stdout
        print(f"--- {name}\n{logs}")


def test_a_pod_replaced_during_a_maintenance_is_gated_before_it_is_ever_ready(stack: Stack) -> None:
    stack.apply_maintenance("replaced", gate=True)
    seconds_until("every pod gated", lambda: all(conditions(p)["Ready"] == "False" for p in stack.pods()))
    old = {p["metadata"]["name"] for p in stack.pods()}
    victim = sorted(old)[0]
    stack.kubectl("delete", "pod", victim, "--wait=false")
    seen_ready: list[str] = []

    def gated_newcomer() -> bool:
        pods = stack.pods()
        for pod in pods:
            if pod["metadata"]["name"] not in old and conditions(pod).get("Ready") == "True":
                seen_ready.append(pod["metadata"]["name"])
        new = [p for p in pods if p["metadata"]["name"] not in old]
        return bool(new) and all(
            conditions(p).get(GATE) == "False"
            and all(c["ready"] for c in p["status"].get("containerStatuses") or [{"ready": False}])
            for p in new
        )

    took = seconds_until("the new pod's containers ready and its gate closed", gated_newcomer, every=0.2)
    print(f"replacement pod gated with its containers ready {took:.2f} s after the delete")
    assert seen_ready == [], "a pod created during a maintenance was Ready before the operator gated it"
    assert stack.ready_endpoints() == []
    stack.kubectl("delete", "maint/replaced", "--timeout=60s")
    stack.wait_all_ready()


def _live_peers(stack: Stack) -> int:
    """How many operator pods are Ready and listed in kopf's peering object."""
    peering = stack.get("clusterkopfpeering", f"{stack.release}-kubemaint-operator")
    ready = {name for name, pod in _operator_pods(stack).items() if conditions(pod).get("Ready") == "True"}
    return len(ready & set(peering.get("status") or {}))


def _operator_pods(stack: Stack) -> dict[str, dict[str, Any]]:
    pods = stack.get("pods", "-l", "app.kubernetes.io/name=kubemaint-operator")["items"]
    return {p["metadata"]["name"]: p for p in pods}


def _active_operator(stack: Stack) -> str:
    """The pod of the active operator replica: kopf's peer with the highest priority (peer id = pod name)."""
    peering = stack.get("clusterkopfpeering", f"{stack.release}-kubemaint-operator")
    peers: dict[str, Any] = peering.get("status") or {}
    pods = stack.get("pods", "-l", "app.kubernetes.io/name=kubemaint-operator")["items"]
    alive = {p["metadata"]["name"] for p in pods}
    ranked = sorted((info["priority"], name) for name, info in peers.items() if name in alive)
    assert ranked, f"no live peer in {peers}"
    return ranked[-1][1]


def test_the_standby_operator_takes_over_when_the_active_pod_is_deleted(stack: Stack) -> None:
    stack.apply_maintenance("takeover", gate=True)
    stack.kubectl("wait", "--for=condition=Drained", "maint/takeover", "--timeout=90s")
    active = _active_operator(stack)
    started = time.monotonic()
    stack.kubectl("delete", "pod", active, "--wait=false")
    # A change that only a working operator can carry out: the Maintenance's finalizer, the key cleared,
    # the gates opened.
    stack.kubectl("delete", "maint/takeover", "--wait=false")
    stack.kubectl("wait", "--for=delete", "maint/takeover", "--timeout=150s")
    stack.wait_all_ready()
    took = time.monotonic() - started
    print(f"active operator {active} deleted: the Maintenance's delete was carried out in {took:.2f} s")
    assert stack.from_cluster("/users").status == 200
    assert _active_operator(stack) != active


KILLS = 20


@pytest.mark.chaos
def test_the_active_operator_pod_killed_at_random_points_20_times_ends_right(stack: Stack) -> None:
    """Fault drill (``make chaos``): a random change (a Maintenance applied, gated or not, or deleted),
    then the active operator pod force-killed 0 to 0.6 s later, 20 times. At the end the survivors must
    have put everything right: the objects that remain are in force and drained, the pods gated as they
    ask, the deleted ones gone (finalizers released) and the Service answering accordingly."""
    seed = int(os.environ.get("KUBEMAINT_DRILL_SEED") or secrets.randbits(32))
    print(f"drill seed {seed} (KUBEMAINT_DRILL_SEED={seed} replays it)")
    rng = random.Random(seed)
    live: dict[str, bool] = {}  # name -> gate
    for round_ in range(KILLS):
        if live and rng.random() < 0.4:
            name = rng.choice(sorted(live))
            del live[name]
            stack.kubectl("delete", f"maint/{name}", "--wait=false")
        else:
            name, gate = f"kill-{round_}", rng.random() < 0.5
            live[name] = gate
            stack.apply_maintenance(name, gate=gate, retry_after=7)
        time.sleep(rng.uniform(0, 0.6))
        victim = _active_operator(stack)
        stack.kubectl("delete", "pod", victim, "--grace-period=0", "--force", "--wait=false")
        seconds_until("the killed pod gone", lambda victim=victim: victim not in _operator_pods(stack))
        # The next victim is the newest replica once it has joined (it then leads: see choose_priority).
        seconds_until(
            "the replacement replica joined the peering", lambda: _live_peers(stack) == 2, timeout=180
        )
    for name in live:
        stack.kubectl("wait", "--for=condition=Drained", f"maint/{name}", "--timeout=180s")
    gated = any(live.values())
    expected = 503 if live else 200

    def names() -> set[str]:
        return {m["metadata"]["name"] for m in stack.get("maintenances")["items"]}

    def gates_right() -> bool:
        return all(conditions(p).get(GATE) == ("False" if gated else "True") for p in stack.pods())

    seconds_until("the deleted Maintenances gone", lambda: names() == set(live), timeout=180)
    seconds_until("the pods' gates as the survivors ask", gates_right, timeout=120)
    seconds_until(
        f"the Service answering {expected}", lambda: stack.from_cluster("/users").status == expected
    )
    print(f"{KILLS} operator kills: {sorted(live)} left, in force and drained; the rest gone")
    for name in list(live):
        stack.kubectl("delete", f"maint/{name}", "--timeout=120s")
    stack.wait_all_ready()
    assert stack.from_cluster("/users").status == 200


def test_helm_upgrade_rolls_the_service_without_a_failed_request_and_the_pdb_holds(stack: Stack) -> None:
    # Through the ClusterIP: a port-forward is bound to one pod, and a rollout replaces every pod.
    before = {p["metadata"]["name"] for p in stack.pods()}
    budget: list[tuple[int, int]] = []
    upgrade_error: list[BaseException] = []

    def upgrade() -> None:
        try:
            stack.helm("upgrade", stack.release, STACK, "--reuse-values",
                       "--set", "users-service.logLevel=DEBUG", "--wait", "--timeout", "5m")  # fmt: skip
        except BaseException as error:  # re-raised in the test's thread
            upgrade_error.append(error)

    with stack.client_loop("/users") as outcome:
        time.sleep(2)
        worker = threading.Thread(target=upgrade)
        started = time.monotonic()
        worker.start()
        while worker.is_alive():
            status = stack.get("pdb", stack.service)["status"]
            budget.append((status.get("currentHealthy", 0), status.get("desiredHealthy", 0)))
            time.sleep(0.5)
        took = time.monotonic() - started
        time.sleep(2)
    assert not upgrade_error, upgrade_error
    after = {p["metadata"]["name"] for p in stack.pods()}
    assert before.isdisjoint(after), "every pod was replaced"
    print(f"helm upgrade --wait rolled 3 pods in {took:.1f} s; client outcomes {outcome['counts']}")
    assert outcome["counts"].get("other", 0) == 0, outcome["errors"]
    assert outcome["counts"].get("2xx", 0) > 0
    assert all(healthy >= desired for healthy, desired in budget), budget

    # The budget refuses a second eviction while the first pod's replacement is not ready yet.
    first, second = sorted(after)[:2]
    evicted = _evict(stack, first)
    assert evicted.returncode == 0, evicted.stderr
    refused = _evict(stack, second)
    assert refused.returncode != 0
    assert "disruption budget" in refused.stderr, refused.stderr
    stack.kubectl("rollout", "status", f"deployment/{stack.service}", "--timeout=180s")
    seconds_until("3 ready endpoints", lambda: len(stack.ready_endpoints()) == 3)


def _evict(stack: Stack, pod: str) -> subprocess.CompletedProcess[str]:
    eviction = json.dumps({"apiVersion": "policy/v1", "kind": "Eviction",
                           "metadata": {"name": pod, "namespace": stack.namespace}})  # fmt: skip
    return stack.run_kubectl("create", "--raw", f"/api/v1/namespaces/{stack.namespace}/pods/{pod}/eviction",
                             "-f", "-", input=eviction, timeout=60)  # fmt: skip


def test_helm_uninstall_leaves_only_what_the_charts_keep(stack: Stack) -> None:
    stack.kubectl("delete", "pod", "e2e-client", "--wait=false", "--ignore-not-found")
    stack.helm("uninstall", stack.release, "--wait", "--timeout", "2m")
    kinds = ",".join(k for k in stack.kubectl("api-resources", "--verbs=list", "-o", "name").split()
                     if not k.startswith("events"))  # fmt: skip
    label = f"app.kubernetes.io/instance={stack.release}"
    kept = ["customresourcedefinition.apiextensions.k8s.io/maintenances.kubemaint.io"]
    left: list[str] = []

    def only_kept() -> bool:  # the garbage collector removes the pods of the deleted workloads
        left[:] = stack.kubectl("get", kinds, "-A", "-l", label, "-o", "name", timeout=180).split()
        return left == kept

    took = seconds_until("only the kept objects left", only_kept, timeout=120, every=2)
    print(f"helm uninstall: the last pod gone {took:.1f} s after it returned; left: {left}")
    crds = stack.kubectl("get", "crd", "-o", "name").split()
    for crd in ("clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"):
        assert f"customresourcedefinition.apiextensions.k8s.io/{crd}" in crds, "kopf's CRDs (crds/) are kept"
