"""Every chart scenario (`helm template`) and every kustomization (`kubectl kustomize`) is accepted by the
real kube-apiserver in a server-side dry run, with the shipped CRDs installed: schemas, defaults,
validation rules and admission all run, nothing is persisted."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import yaml
from bundlekit import CHARTS, ROOT, Scenario, documents
from kubemaint_devstack.controlplane import KubectlError

from tests.support.cli import Helm

if TYPE_CHECKING:
    from kubemaint_devstack.controlplane import ControlPlane

KUSTOMIZATIONS = [
    "k8s/base",
    *sorted(str(p.parent.relative_to(ROOT)) for p in ROOT.glob("k8s/overlays/*/kustomization.yaml")),
]


def _dry_run(cluster: ControlPlane, manifest: str, namespace: str) -> None:
    objects = documents(manifest)
    out = cluster.kubectl("apply", "--dry-run=server", "--namespace", namespace, "-f", "-", input=manifest)
    accepted = [line for line in out.splitlines() if line.endswith("(server dry run)")]
    assert len(accepted) == len(objects), out


def test_chart_scenario_passes_a_server_dry_run(
    scenario: Scenario, helm: Helm, bundle_cluster: ControlPlane, namespace: str
) -> None:
    _dry_run(bundle_cluster, helm.template(scenario, namespace), namespace)


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_kustomization_passes_a_server_dry_run(path: str, bundle_cluster: ControlPlane) -> None:
    manifest = bundle_cluster.kubectl("kustomize", str(ROOT / path))
    (ns,) = {o["metadata"]["name"] for o in documents(manifest) if o["kind"] == "Namespace"}
    # A dry run creates nothing, so the objects' namespace must exist for real first.
    bundle_cluster.kubectl(
        "apply", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"
    )
    _dry_run(bundle_cluster, manifest, ns)


def test_dry_run_rejects_what_the_server_would_reject(
    helm: Helm, bundle_cluster: ControlPlane, namespace: str
) -> None:
    """The check has teeth: an unknown field and a bad Maintenance are refused by the server."""
    rendered = helm.run("template", "k", CHARTS / "users-service", "--namespace", namespace).stdout
    objects = documents(rendered)
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/x"
    with pytest.raises(KubectlError, match="unknown field"):
        _dry_run(bundle_cluster, yaml.safe_dump_all(objects), namespace)
    bad = {
        "apiVersion": "kubemaint.io/v1alpha1",
        "kind": "Maintenance",
        "metadata": {"name": "bad", "namespace": namespace},
        "spec": {"service": "users-service", "mode": "sideways"},
    }
    with pytest.raises(KubectlError, match="Unsupported value"):
        _dry_run(bundle_cluster, yaml.safe_dump(bad), namespace)
