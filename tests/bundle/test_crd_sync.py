"""The operator chart carries exact copies of k8s/base/crd/ and of the operator's ClusterRole, and
scripts/crd-sync.sh --check notices any drift."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from bundlekit import CHARTS, ROOT, documents

from tests.support.cli import Helm

SCRIPT = ROOT / "scripts" / "crd-sync.sh"


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(root / "scripts" / "crd-sync.sh"), "--check"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _copy_tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "k8s" / "base", root / "k8s" / "base")
    for folder in ("files", "crds"):
        chart = Path("charts") / "kubemaint-operator" / folder
        shutil.copytree(ROOT / chart, root / chart)
    (root / "scripts").mkdir()
    shutil.copy(SCRIPT, root / "scripts")
    return root


def test_chart_copies_match_the_sources() -> None:
    result = _check(ROOT)
    assert result.returncode == 0, result.stderr


def test_check_fails_when_a_crd_is_edited(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    crd = root / "k8s" / "base" / "crd" / "kubemaint.io_maintenances.yaml"
    crd.write_text(crd.read_text().replace("default: 60", "default: 61"))
    result = _check(root)
    assert result.returncode == 1
    assert "kubemaint.io_maintenances.yaml differs" in result.stderr


def test_check_fails_on_a_stale_copy_and_sync_repairs_it(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    (root / "charts" / "kubemaint-operator" / "files" / "crds" / "old.example_things.yaml").write_text("{}\n")
    (root / "k8s" / "base" / "rbac" / "cluster_role.yaml").write_text("kind: ClusterRole\nrules: []\n")
    result = _check(root)
    assert result.returncode == 1
    assert "old.example_things.yaml has no source" in result.stderr
    assert "cluster_role.yaml differs" in result.stderr
    subprocess.run(
        ["bash", str(root / "scripts" / "crd-sync.sh")], check=True, capture_output=True, timeout=60
    )
    assert _check(root).returncode == 0


def test_chart_renders_the_synced_crds_the_maintenance_one_with_a_keep_policy(helm: Helm) -> None:
    # --include-crds: the crds/ folder too (kopf's peering CRDs), as `helm install` and Tilt apply it.
    rendered = documents(helm.run("template", "k", CHARTS / "kubemaint-operator", "--include-crds").stdout)
    crds = {o["metadata"]["name"]: o for o in rendered if o["kind"] == "CustomResourceDefinition"}
    sources = [
        doc
        for path in sorted((ROOT / "k8s" / "base" / "crd").glob("*.yaml"))
        for doc in documents(path.read_text())
    ]
    assert sorted(crds) == sorted(doc["metadata"]["name"] for doc in sources)
    for source in sources:
        crd = crds[source["metadata"]["name"]]
        assert crd["spec"] == source["spec"]
    assert crds["maintenances.kubemaint.io"]["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    templated = documents(helm.run("template", "k", CHARTS / "kubemaint-operator").stdout)
    names = [o["metadata"]["name"] for o in templated if o["kind"] == "CustomResourceDefinition"]
    assert names == ["maintenances.kubemaint.io"], "kopf's CRDs are in crds/, the Maintenance one a template"


def test_chart_grants_exactly_the_rules_of_k8s_base_rbac(helm: Helm) -> None:
    rendered = documents(helm.run("template", "k", CHARTS / "kubemaint-operator").stdout)
    (role,) = [
        o for o in rendered if o["kind"] == "ClusterRole" and o["metadata"]["name"] == "k-kubemaint-operator"
    ]
    (source,) = [
        o for o in documents((ROOT / "k8s" / "base" / "rbac" / "cluster_role.yaml").read_text())
        if o["kind"] == "ClusterRole"
    ]  # fmt: skip
    assert role["rules"] == source["rules"]


def test_chart_aggregates_the_maintenance_roles_of_k8s_base_rbac(helm: Helm) -> None:
    """The editor and viewer roles for people: the chart's equal k8s/base/rbac/'s, rules and aggregation."""
    rendered = documents(helm.run("template", "k", CHARTS / "kubemaint-operator").stdout)
    roles = {o["metadata"]["name"]: o for o in rendered if o["kind"] == "ClusterRole"}
    for kind, aggregate_to in (("editor", {"admin", "edit"}), ("viewer", {"view"})):
        (source,) = documents((ROOT / "k8s" / "base" / "rbac" / f"maintenance_{kind}_role.yaml").read_text())
        role = roles[f"k-kubemaint-operator-maintenance-{kind}"]
        assert role["rules"] == source["rules"]
        for labels in (role["metadata"]["labels"], source["metadata"]["labels"]):
            aggregated = {k.rpartition("aggregate-to-")[2] for k, v in labels.items() if "aggregate-to-" in k}
            assert aggregated == aggregate_to
            assert all(v == "true" for k, v in labels.items() if "aggregate-to-" in k)
    off = documents(helm.run(
        "template", "k", CHARTS / "kubemaint-operator", "--set", "rbac.aggregateToDefaultRoles=false"
    ).stdout)  # fmt: skip
    assert [o["metadata"]["name"] for o in off if o["kind"] == "ClusterRole"] == [
        "k-kubemaint-operator",
        "k-kubemaint-operator-responder",
    ]
