"""``Drained`` follows the acknowledgements of real users-service replicas (local processes of the service
helper's ``users-service`` against the same etcd and a fresh database): it stays False while a replica
still has a request in flight, and turns True only once every live replica has acknowledged."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from kube_support import Kube, OperatorProcess, ServiceReplica, maintenance
from kubemaint_devstack.etcd import EtcdServer
from kubemaint_devstack.postgres import PostgresServer

from tests.support.polling import eventually


def _drained(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    obj = kube.maintenance(namespace, name) or {}
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition["type"] == "Drained":
            return {
                **condition,
                "replicas": obj["status"].get("replicas"),
                "revision": obj["status"]["etcd"]["revision"],
            }
    return {}


def test_drained_turns_true_only_after_every_replica_acknowledged(
    kube: Kube,
    etcd: EtcdServer,
    postgres: PostgresServer,
    fresh_database: str,
    operator: OperatorProcess,
    namespace: str,
    service_name: str,
    tmp_path: Path,
) -> None:
    key = f"/maintenance/{service_name}"
    kube.apply(maintenance("no-replicas", namespace, service_name))
    kube.wait_phase(namespace, "no-replicas", "Active")
    state = eventually(
        lambda: (d := _drained(kube, namespace, "no-replicas")) and d.get("reason") == "NoReplicas" and d,
        10,
        "Drained False (NoReplicas) with no replica running",
    )
    assert state["status"] == "False"
    kube.kubectl("delete", "maint", "no-replicas", "-n", namespace)

    db = {
        "DB_HOST": postgres.host,
        "DB_PORT": str(postgres.port),
        "DB_USER": postgres.user,
        "DB_PASSWORD": postgres.password,
        "DB_NAME": fresh_database,
    }
    replicas = [ServiceReplica(f"r{i}", service_name, etcd.endpoint, db, tmp_path) for i in (1, 2)]
    try:
        for replica in replicas:
            replica.start()
        busy = replicas[0]
        slow_status: list[int] = []
        slow = threading.Thread(target=lambda: slow_status.append(busy.status_of("/debug/slow?seconds=6")))
        slow.start()
        time.sleep(1.0)  # let the request reach pg_sleep; the is_alive() check below guards the timing

        kube.apply(maintenance("upgrade", namespace, service_name))
        kube.wait_phase(namespace, "upgrade", "Active")
        waiting = eventually(
            lambda: (
                (d := _drained(kube, namespace, "upgrade"))
                and (d.get("replicas") or {}).get("live") == 2
                and d
            ),
            10,
            "both replicas seen",
        )
        assert slow.is_alive(), "the slow request ended before the check: the test proves nothing"
        assert waiting["status"] == "False"
        assert waiting["reason"] == "WaitingForReplicas"

        slow.join(30)
        assert slow_status == [200], "the in-flight request was allowed to finish"
        done = eventually(
            lambda: (d := _drained(kube, namespace, "upgrade")) and d.get("status") == "True" and d,
            20,
            "Drained True",
        )
        assert done["replicas"] == {"acknowledged": 2, "live": 2}
        for replica in replicas:
            ack = json.loads(etcd.get(f"{key}/acks/{replica.instance}") or "{}")
            assert ack["maintenance"] is True
            assert ack["revision"] >= done["revision"]
        kube.kubectl("wait", "--for=condition=Drained", "maint/upgrade", "-n", namespace, "--timeout=5s")
    finally:
        for replica in replicas:
            replica.stop()
