"""Per-object ``spec.etcd`` (another etcd, another key, credentials from a Secret) and an etcd outage."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from kube_support import Kube, OperatorProcess, maintenance
from kubemaint_devstack.etcd import EtcdServer

from tests.support.etcd_values import decoded
from tests.support.polling import eventually


def test_spec_etcd_writes_another_etcd_and_key(
    kube: Kube,
    etcd: EtcdServer,
    etcd_factory: Callable[[], EtcdServer],
    operator: OperatorProcess,
    namespace: str,
    service_name: str,
) -> None:
    other = etcd_factory()
    key = f"/custom/{service_name}/switch"
    kube.apply(maintenance("m", namespace, service_name, etcd={"endpoints": [other.endpoint], "key": key}))
    value = eventually(lambda: decoded(other.get(key)), 15, "key on the object's own etcd")
    assert value["enabled"] is True
    assert value["sources"] == [f"{namespace}/m"]
    obj = kube.wait_phase(namespace, "m", "Active")
    assert obj["status"]["etcd"]["key"] == key
    assert etcd.get(f"/maintenance/{service_name}") is None, "the operator's own etcd is untouched"
    kube.kubectl("delete", "maint", "m", "-n", namespace)
    assert (decoded(other.get(key)) or {}).get("enabled") is False


def test_spec_etcd_secret_ref_supplies_credentials(
    kube: Kube,
    etcd_factory: Callable[[], EtcdServer],
    operator: OperatorProcess,
    namespace: str,
    service_name: str,
) -> None:
    secured = etcd_factory()
    secured.etcdctl("user", "add", "root", "--new-user-password=root-pass")
    secured.etcdctl("user", "add", "maint", "--new-user-password=maint-pass")
    secured.etcdctl("role", "add", "maint")
    secured.etcdctl("role", "grant-permission", "maint", "--prefix=true", "readwrite", "/maintenance/")
    secured.etcdctl("user", "grant-role", "maint", "maint")
    secured.etcdctl("auth", "enable")
    key = f"/maintenance/{service_name}"

    def read() -> dict[str, Any] | None:
        return decoded(secured.etcdctl("--user=root:root-pass", "get", key, "--print-value-only").strip())

    kube.apply(maintenance("no-secret", namespace, service_name, etcd={"endpoints": [secured.endpoint]}))
    failed = kube.wait_phase(namespace, "no-secret", "Failed", 20)
    assert kube.condition(failed, "EtcdSynced") == "False"
    kube.kubectl("delete", "maint", "no-secret", "-n", namespace, "--wait=false")
    kube.kubectl(
        "patch",
        "maint",
        "no-secret",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"metadata":{"finalizers":null}}',
    )  # fmt: skip  (it can never reach that etcd)

    data = {
        "username": base64.b64encode(b"maint").decode(),
        "password": base64.b64encode(b"maint-pass").decode(),
    }
    secret = {
        "name": "etcd-client",
        "namespace": namespace,
        "annotations": {"kubemaint.io/etcd-endpoints": secured.endpoint},  # the owner approves this etcd
    }
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": secret, "data": data})
    kube.apply(
        maintenance("m", namespace, service_name,
                    etcd={"endpoints": [secured.endpoint], "secretRef": {"name": "etcd-client"}}),
    )  # fmt: skip
    value = eventually(read, 20, "key written with the Secret's credentials")
    assert value["enabled"] is True
    kube.wait_phase(namespace, "m", "Active")
    kube.kubectl("delete", "maint", "m", "-n", namespace, "--timeout=30s")
    assert (read() or {}).get("enabled") is False


def test_etcd_outage_fails_the_object_and_it_recovers(
    kube: Kube,
    etcd_factory: Callable[[], EtcdServer],
    operator: OperatorProcess,
    namespace: str,
    service_name: str,
) -> None:
    flaky = etcd_factory()
    key = f"/maintenance/{service_name}"
    flaky.stop()
    kube.apply(maintenance("m", namespace, service_name, etcd={"endpoints": [flaky.endpoint]}))
    failed = kube.wait_phase(namespace, "m", "Failed", 30)
    assert kube.condition(failed, "EtcdSynced") == "False"
    assert kube.condition(failed, "Ready") == "False"

    flaky.start()
    kube.wait_phase(namespace, "m", "Active", 30)
    assert (decoded(flaky.get(key)) or {}).get("enabled") is True


def test_moving_the_key_ends_the_old_one(
    kube: Kube, etcd: EtcdServer, operator: OperatorProcess, namespace: str, service_name: str
) -> None:
    old_key, new_key = f"/maintenance/{service_name}", f"/moved/{service_name}"
    kube.apply(maintenance("m", namespace, service_name))
    eventually(lambda: (decoded(etcd.get(old_key)) or {}).get("enabled") is True, 10, "old key on")
    kube.kubectl("patch", "maint", "m", "-n", namespace, "--type=merge", "-p",
                 json.dumps({"spec": {"etcd": {"key": new_key}}}))  # fmt: skip
    eventually(lambda: (decoded(etcd.get(new_key)) or {}).get("enabled") is True, 10, "new key on")
    eventually(lambda: (decoded(etcd.get(old_key)) or {}).get("enabled") is False, 10, "old key off")
    obj = eventually(
        lambda: (o := kube.maintenance(namespace, "m")) and o["status"]["etcd"]["key"] == new_key and o,
        10,
        "status names the new key",
    )
    assert obj["status"]["phase"] == "Active"
