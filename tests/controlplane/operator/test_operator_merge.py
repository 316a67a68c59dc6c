"""One etcd key is one merge, however its etcd is spelled (issue: two merges fought over one key)."""

from __future__ import annotations

import json
import time

from kube_support import Kube, OperatorProcess, maintenance
from kubemaint_devstack.etcd import EtcdServer

from tests.support.polling import eventually


def test_the_operators_etcd_without_its_scheme_merges_with_objects_without_spec_etcd(
    kube: Kube, etcd: EtcdServer, operator: OperatorProcess, namespace: str, service_name: str
) -> None:
    key = f"/maintenance/{service_name}"
    bare = etcd.endpoint.removeprefix("http://").upper()  # 127.0.0.1:PORT, as a user might write it
    kube.apply(
        maintenance("plain", namespace, service_name, reason="plain"),
        maintenance("named", namespace, service_name, reason="named", etcd={"endpoints": [bare]}),
    )
    sources = sorted([f"{namespace}/named", f"{namespace}/plain"])
    value = eventually(
        lambda: (raw := etcd.get(key)) and sorted(json.loads(raw).get("sources") or []) == sources and raw,
        20,
        "one merged value listing both objects",
    )
    assert json.loads(value)["enabled"] is True
    for name in ("plain", "named"):
        kube.wait_phase(namespace, name, "Active")
    settled = etcd.mod_revision(key)
    time.sleep(6)  # three resyncs (RESYNC_SECONDS=2) and the key watches: nobody sees drift
    assert etcd.mod_revision(key) == settled, "the key was rewritten although nothing changed"
    for name in ("plain", "named"):
        obj = kube.maintenance(namespace, name)
        assert kube.condition(obj, "EtcdSynced") == "True"
        assert obj is not None
        assert obj["status"]["etcd"]["revision"] == settled
