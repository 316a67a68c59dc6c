"""Each chart's NOTES.txt, as `helm install` prints it, tells the reader how to reach the service
(port-forward, curl) and how to start a maintenance (`kubectl apply` of a Maintenance)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import yaml
from bundlekit import CHART_NAMES, CHARTS, TAKE_OWNERSHIP, helm_kube_args

from tests.support.cli import Helm

if TYPE_CHECKING:
    from kubemaint_devstack.controlplane import ControlPlane


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_notes_print_port_forward_curl_and_a_maintenance(
    chart: str, helm: Helm, bundle_cluster: ControlPlane, namespace: str
) -> None:
    # A client-side dry run renders NOTES.txt and creates nothing; helm still asks the server for its version
    # and for objects it would take over (the CRDs applied with kubectl), so it takes ownership of them.
    out = helm.run(
        "install", "notes", CHARTS / chart, "--dry-run=client", TAKE_OWNERSHIP,
        *helm_kube_args(bundle_cluster, namespace),
    )  # fmt: skip
    notes = out.stdout.split("\nNOTES:\n", 1)[1]
    assert f"kubectl --namespace {namespace} port-forward svc/" in notes, notes
    assert "curl -s" in notes, notes
    assert "kubectl apply -f - <<'YAML'" in notes, notes
    # The here-document must end on a line that is exactly "YAML", or a pasted command never ends.
    manifest = notes.split("<<'YAML'\n", 1)[1].split("\nYAML\n", 1)
    assert len(manifest) == 2, "the here-document is not terminated by a bare YAML line"
    maintenance = yaml.safe_load(manifest[0])
    assert maintenance["kind"] == "Maintenance"
    assert maintenance["metadata"]["namespace"] == namespace
    # The printed object is one the API server accepts.
    bundle_cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(maintenance))
