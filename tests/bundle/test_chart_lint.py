"""`helm lint --strict` passes for every chart with each of its ci/ scenarios, and every rendered object
carries the app.kubernetes.io labels."""

from __future__ import annotations

from bundlekit import CHART_NAMES, CHARTS, Scenario, documents

from tests.support.cli import Helm


def test_every_chart_has_the_expected_files() -> None:
    for chart in CHART_NAMES:
        path = CHARTS / chart
        for required in ("Chart.yaml", "values.yaml", "values.schema.json", "templates/NOTES.txt"):
            assert (path / required).is_file(), f"{chart} lacks {required}"
        assert list((path / "templates" / "tests").glob("*.yaml")), f"{chart} has no helm test"
        assert list((path / "ci").glob("*-values.yaml")), f"{chart} has no ci/ scenario"


def test_lint_passes(scenario: Scenario, helm: Helm) -> None:
    result = helm.run("lint", "--strict", scenario.path, "--values", scenario.values, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_rendered_objects_carry_the_recommended_labels(scenario: Scenario, helm: Helm) -> None:
    objects = documents(helm.template(scenario, "labels-check"))
    assert objects, f"{scenario.id} renders nothing"
    for obj in objects:
        labels = obj["metadata"].get("labels", {})
        where = f"{scenario.id} {obj['kind']}/{obj['metadata']['name']}"
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by"):
            if obj["kind"] == "CustomResourceDefinition" and key == "app.kubernetes.io/instance":
                continue  # cluster-wide, shared by releases: the CRD keeps its own name label
            assert key in labels, f"{where} lacks label {key}"
