"""Fault drill (``make chaos``): the operator killed at random points of its work, 20 rounds, and the API
server restarted once on the way; the final state is right.

Each round makes one random change (a new Maintenance, one switched on or off, one deleted), lets the
operator act on it for 0 to 0.6 s, then kills it (SIGKILL) and starts a new one; after the middle round the
kube-apiserver is restarted too. At the end every key must say what its objects say, every pod's gate
must follow, and every deleted object must be gone (its finalizer released). The seed is printed, and
``KUBEMAINT_DRILL_SEED`` replays a run.
"""

from __future__ import annotations

import os
import random
import secrets
import time
from collections.abc import Callable

import pytest
from kube_support import Kube, OperatorProcess, maintenance, pod
from kubemaint_devstack.controlplane import ControlPlane
from kubemaint_devstack.etcd import EtcdServer

from tests.support.etcd_values import value_of
from tests.support.polling import eventually

ROUNDS = 20


@pytest.mark.chaos
def test_twenty_kills_at_random_points_and_an_api_server_restart_end_right(
    kube: Kube,
    etcd: EtcdServer,
    control_plane: ControlPlane,
    start_operator: Callable[..., OperatorProcess],
    namespace: str,
    service_name: str,
) -> None:
    seed = int(os.environ.get("KUBEMAINT_DRILL_SEED") or secrets.randbits(32))
    print(f"drill seed {seed} (KUBEMAINT_DRILL_SEED={seed} replays it)")
    rng = random.Random(seed)
    services = [f"{service_name}-{i}" for i in range(3)]
    kube.wait_default_account(namespace)
    kube.apply(*(pod(f"{s}-p{n}", namespace, s) for s in services for n in range(2)))
    objects: dict[str, tuple[str, bool]] = {}  # name -> (service, enabled), as they should end
    deleted: set[str] = set()
    operator = start_operator()
    for round_ in range(ROUNDS):
        action = rng.choice(["create", "create", "toggle", "delete"]) if objects else "create"
        if action == "create":
            name, service = f"m{round_}", rng.choice(services)
            objects[name] = (service, True)
            kube.apply(maintenance(name, namespace, service, reason=f"round {round_}"))
        elif action == "toggle":
            name = rng.choice(sorted(objects))
            service, enabled = objects[name]
            objects[name] = (service, not enabled)
            patch = f'{{"spec":{{"enabled":{"false" if enabled else "true"}}}}}'
            kube.kubectl("patch", "maint", name, "-n", namespace, "--type=merge", "-p", patch)
        else:
            name = rng.choice(sorted(objects))
            del objects[name]
            deleted.add(name)
            kube.kubectl("delete", "maint", name, "-n", namespace, "--wait=false")
        time.sleep(rng.uniform(0, 0.6))
        operator.kill()
        if round_ == ROUNDS // 2:
            control_plane.restart_apiserver()
        operator = start_operator()

    def right() -> bool:
        for service in services:
            wanted = any(enabled for s, enabled in objects.values() if s == service)
            value = value_of(etcd, f"/maintenance/{service}")
            if (bool(value and value["enabled"])) != wanted:
                return False
            if any(kube.gate(namespace, f"{service}-p{n}") != str(not wanted) for n in range(2)):
                return False
        for name, (_, enabled) in objects.items():
            status = (kube.maintenance(namespace, name) or {}).get("status") or {}
            if status.get("phase") != ("Active" if enabled else "Completed"):
                return False
        return all(kube.maintenance(namespace, name) is None for name in deleted)

    eventually(right, 90, f"the state of {len(objects)} objects and {len(deleted)} deletions")
    print(f"{ROUNDS} kills: {len(objects)} objects left, {len(deleted)} deleted, all keys and gates right")
