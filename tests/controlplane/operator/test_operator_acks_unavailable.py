"""Acknowledgements that cannot be listed (etcd role allowed the key, not its acks) while the key is written:
the object stays Active with EtcdSynced True, and only Drained is Unknown."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

from kube_support import Kube, OperatorProcess, maintenance
from kubemaint_devstack.etcd import EtcdServer

from tests.support.polling import eventually


def _drained(obj: Mapping[str, Any] | None) -> tuple[str, str] | None:
    for item in ((obj or {}).get("status") or {}).get("conditions") or []:
        if item.get("type") == "Drained":
            return str(item.get("status")), str(item.get("reason"))
    return None


def test_acks_not_listable_leave_drained_unknown_and_the_object_active(
    kube: Kube,
    etcd_factory: Callable[[], EtcdServer],
    operator: OperatorProcess,
    namespace: str,
    service_name: str,
) -> None:
    key = f"/maintenance/{service_name}"
    secured = etcd_factory()
    secured.etcdctl("user", "add", "root", "--new-user-password=root-pass")
    secured.etcdctl("user", "add", "keyonly", "--new-user-password=keyonly-pass")
    secured.etcdctl("role", "add", "keyonly")
    secured.etcdctl("role", "grant-permission", "keyonly", "readwrite", key)  # the key, not <key>/acks/
    secured.etcdctl("user", "grant-role", "keyonly", "keyonly")
    secured.etcdctl("auth", "enable")
    data = {
        "username": base64.b64encode(b"keyonly").decode(),
        "password": base64.b64encode(b"keyonly-pass").decode(),
    }
    kube.apply(
        {"apiVersion": "v1", "kind": "Secret",
         "metadata": {"name": "key-only", "namespace": namespace,
                      "annotations": {"kubemaint.io/etcd-endpoints": secured.endpoint}},
         "data": data},
        maintenance("m", namespace, service_name,
                    etcd={"endpoints": [secured.endpoint], "secretRef": {"name": "key-only"}}),
    )  # fmt: skip
    obj = eventually(
        lambda: (
            (o := kube.maintenance(namespace, "m")) and _drained(o) == ("Unknown", "AcksUnavailable") and o
        ),
        30,
        "Drained Unknown because the acks cannot be listed",
    )
    assert obj["status"]["phase"] == "Active"
    assert kube.condition(obj, "EtcdSynced") == "True"
    assert kube.condition(obj, "Ready") == "True"
    stored = secured.etcdctl("--user=root:root-pass", "get", key, "--print-value-only").strip()
    assert json.loads(stored)["enabled"] is True
    events = kube.kubectl("get", "events", "-n", namespace, "-o", "json")
    warnings = [
        e for e in json.loads(events)["items"] if e.get("type") == "Warning" and e.get("reason") == "Failed"
    ]
    assert warnings == [], "a failed ack listing is not an etcd failure"
