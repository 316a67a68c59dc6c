"""An operator without its peering object says so, at warning level and on its liveness endpoint."""

from __future__ import annotations

import json
import secrets
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from kube_support import Kube, OperatorProcess
from kubemaint_devstack.etcd import EtcdServer

from tests.support.polling import eventually


def _probe(operator: OperatorProcess) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{operator.port}/healthz", timeout=5) as response:
        return dict(json.loads(response.read()))


@pytest.fixture
def lonely_operator(
    operator_kubeconfig: Path, etcd: EtcdServer, kube: Kube, tmp_path: Path
) -> Iterator[tuple[OperatorProcess, str]]:
    """An operator whose ClusterKopfPeering does not exist (yet)."""
    peering = f"kubemaint-missing-{secrets.token_hex(3)}"
    process = OperatorProcess(operator_kubeconfig, etcd.endpoint, tmp_path, peering).start()
    yield process, peering
    process.stop()
    kube.kubectl("delete", "clusterkopfpeering", peering, "--ignore-not-found", "--wait=false")


def test_a_missing_peering_object_is_named_with_the_ways_out(
    kube: Kube, lonely_operator: tuple[OperatorProcess, str]
) -> None:
    operator, peering = lonely_operator
    line = eventually(
        lambda: next((ln for ln in operator.log().splitlines() if "does not exist" in ln), None),
        20,
        "a warning about the missing peering object",
    )
    assert f"ClusterKopfPeering {peering!r}" in line
    assert "k8s/base/peering/" in line
    assert "STANDALONE=true" in line
    assert "does not exist" in str(_probe(operator).get("peering"))

    kube.apply({"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": peering}})
    eventually(lambda: _probe(operator).get("peering") == "ok", 30, "the probe reports the peering ok")
