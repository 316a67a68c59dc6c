"""values.yaml is fully commented, and values.schema.json rejects bad values: unknown keys, wrong types,
negative replica counts (checked by helm itself, as `helm install` would)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from bundlekit import CHART_NAMES, CHARTS, STACK

from tests.support.cli import Helm

SUBCHARTS = {"kubemaint-operator", "users-service", "postgres", "etcd"}

# (chart, --set argument, text that helm's schema error must contain)
BAD_VALUES = [
    # unknown keys, at the top and nested, in every chart
    *[(chart, "unknownKey=1", "additional properties 'unknownKey' not allowed") for chart in CHART_NAMES],
    ("users-service", "database.pool.maximum=5", "additional properties 'maximum' not allowed"),
    (STACK, "users-service.databse.host=x", "additional properties 'databse' not allowed"),
    # wrong types
    ("kubemaint-operator", "crds.keep=yes", "got string, want boolean"),
    ("kubemaint-operator", "notifications.webhook.url=hooks.example.com", "does not match pattern"),
    ("users-service", "port=http", "got string, want integer"),
    ("users-service", "maintenance.onEtcdLoss=sometimes", "value must be one of"),
    ("users-service", "maintenance.page.key=a/b", "does not match pattern"),
    ("users-service", "maintenance.skipPaths[0]=public", "does not match pattern"),
    ("users-service", "maintenance.bypass.cidrs[0]=office", "does not match pattern"),
    ("postgres", "persistence.enabled=sure", "got string, want boolean"),
    ("etcd", "clientPort=two", "got string, want integer"),
    (STACK, "postgres.auth=plain", "got string, want object"),
    # negative replica counts
    ("kubemaint-operator", "replicaCount=-1", "minimum"),
    ("users-service", "replicaCount=-2", "minimum"),
    ("etcd", "replicaCount=-1", "value must be one of"),
    (STACK, "users-service.replicaCount=-1", "minimum"),
    # network policies: a switch is a boolean, peers are closed objects, ports are numbers
    *[(chart, "networkPolicy.enabled=maybe", "got string, want boolean") for chart in sorted(SUBCHARTS)],
    ("users-service", "networkPolicy.database.to[0].podSelecter.a=b", "additional properties 'podSelecter'"),
    ("postgres", "networkPolicy.ingressFrom=anyone", "got string, want array"),
    ("kubemaint-operator", "networkPolicy.apiServer.ports[0]=https", "got string, want integer"),
    (STACK, "etcd.networkPolicy.dnsTo[0].ipBlock.cidrs=10.0.0.0/8", "additional properties 'cidrs'"),
    ("etcd", "helmTest.resources.request.cpu=1", "additional properties 'request' not allowed"),
    # the umbrella refuses a readiness gate without the operator (pods would never be Ready)
    (STACK, "kubemaint-operator.enabled=false", "value must be false"),
]


@pytest.mark.parametrize(
    ("chart", "setting", "message"), BAD_VALUES, ids=[f"{c}:{s}" for c, s, _ in BAD_VALUES]
)
def test_schema_rejects_bad_values(helm: Helm, chart: str, setting: str, message: str) -> None:
    value = setting.split("=", 1)[1]
    flag = "--set" if value in ("true", "false") or re.fullmatch(r"-?\d+", value) else "--set-string"
    result = helm.run("template", "bad", CHARTS / chart, flag, setting, check=False)
    assert result.returncode != 0, f"{chart} accepted {setting}"
    assert "don't meet the specifications of the schema" in result.stderr, result.stderr
    assert message in result.stderr, result.stderr


def test_schema_accepts_the_documented_alternatives(helm: Helm) -> None:
    """The same keys with good values render: the rejections above are about the values, not the keys."""
    settings = [
        "users-service.replicaCount=0",
        "kubemaint-operator.enabled=false",
        "users-service.readinessGate.enabled=false",
        "etcd.replicaCount=3",
    ]
    helm.run("template", "good", CHARTS / STACK, *[arg for s in settings for arg in ("--set", s)])


def _schema_node(schema: dict[str, Any], path: list[str]) -> dict[str, Any] | None:
    node: dict[str, Any] | None = schema
    for key in path:
        if node is None or "properties" not in node:
            return None
        node = node["properties"].get(key)
    return node


def _schema_for(chart: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CHARTS / chart / "values.schema.json").read_text())
    return loaded


def _uncommented_keys(chart: str) -> list[str]:
    """Keys of values.yaml that the schema types but no comment line directly above describes.

    Keys inside free-form objects (securityContext, resources, ...) are Kubernetes fields and need none.
    In the umbrella chart, each block is checked against its sub-chart's schema.
    """
    lines = (CHARTS / chart / "values.yaml").read_text().splitlines()
    missing: list[str] = []
    stack: list[tuple[int, str]] = []
    for number, line in enumerate(lines):
        match = re.match(r"^(\s*)([A-Za-z0-9_.-]+):(.*)$", line)
        if not match:
            continue
        indent, key = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = [name for _, name in stack] + [key]
        stack.append((indent, key))
        if chart == STACK and path[0] in SUBCHARTS:
            parent = _schema_node(_schema_for(path[0]), path[1:-1])
        else:
            parent = _schema_node(_schema_for(chart), path[:-1])
        if parent is None or "properties" not in parent:
            continue  # inside a free-form object
        is_section = not match.group(3).strip()  # a block of keys, each checked on its own
        previous = lines[number - 1].strip() if number else ""
        if not is_section and not previous.startswith("#"):
            missing.append(".".join(path))
    return missing


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_every_value_is_commented(chart: str) -> None:
    assert _uncommented_keys(chart) == []


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_defaults_validate_and_schema_is_closed(chart: str) -> None:
    schema = _schema_for(chart)
    assert schema["additionalProperties"] is False
    values = yaml.safe_load((CHARTS / chart / "values.yaml").read_text())
    top = set(schema["properties"])
    assert set(values) <= top, f"{chart}: values.yaml keys missing from the schema: {set(values) - top}"


def test_subcharts_accept_their_parent_condition_and_globals() -> None:
    for chart in SUBCHARTS:
        props = _schema_for(chart)["properties"]
        assert props["enabled"] == {"type": "boolean"}, chart
        assert props["global"]["type"] == "object", chart


def _closed_objects(node: dict[str, Any], path: str, out: list[str]) -> None:
    if "properties" in node:
        if node.get("additionalProperties") is not False and path:
            out.append(path)
        for key, child in node["properties"].items():
            _closed_objects(child, f"{path}.{key}" if path else key, out)


@pytest.mark.parametrize("chart", sorted(SUBCHARTS))
def test_every_typed_object_rejects_unknown_keys(chart: str) -> None:
    open_objects: list[str] = []
    _closed_objects(_schema_for(chart), "", open_objects)
    assert open_objects == []


def test_value_files_exist_for_every_chart() -> None:
    assert all(Path(CHARTS / chart / "values.yaml").is_file() for chart in CHART_NAMES)


def test_a_maintenance_page_is_a_configmap_mounted_where_the_service_reads_it(helm: Helm) -> None:
    rendered = helm.run(
        "template", "t", CHARTS / "users-service", "--set-string", "maintenance.page.template=<h1>$title</h1>"
    ).stdout
    docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(rendered) if d}
    assert docs[("ConfigMap", "t-users-service-page")]["data"] == {"page.html": "<h1>$title</h1>"}
    assert (
        docs[("ConfigMap", "t-users-service")]["data"]["MAINTENANCE_PAGE_FILE"]
        == "/etc/kubemaint/page/page.html"
    )
    pod = docs[("Deployment", "t-users-service")]["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["maintenance-page"] == "/etc/kubemaint/page"
    volume = next(v for v in pod["volumes"] if v["name"] == "maintenance-page")
    assert volume["configMap"]["name"] == "t-users-service-page"
    plain = helm.run("template", "t", CHARTS / "users-service").stdout
    assert "MAINTENANCE_PAGE_FILE" not in plain, "no page configured: the library's own"
    both = helm.run(
        "template", "t", CHARTS / "users-service", "--set", "maintenance.page.template=x",
        "--set", "maintenance.page.existingConfigMap=y", check=False,
    )  # fmt: skip
    assert both.returncode != 0
    assert "set template or existingConfigMap, not both" in both.stderr


def test_skip_paths_reach_the_service_as_one_comma_list(helm: Helm) -> None:
    rendered = helm.run(
        "template", "t", CHARTS / "users-service",
        "--set", "maintenance.skipPaths[0]=/public", "--set", "maintenance.skipPaths[1]=/docs",
    ).stdout  # fmt: skip
    config = _config_map(rendered)
    assert config["data"]["MAINTENANCE_SKIP_PATHS"] == "/public,/docs"
    rendered = helm.run(
        "template", "t", CHARTS / "users-service", "--set", "maintenance.bypass.cidrs[0]=10.20.0.0/16",
        "--set", "maintenance.trustedProxies[0]=10.0.0.0/8",
    ).stdout  # fmt: skip
    config = _config_map(rendered)
    assert (config["data"]["MAINTENANCE_BYPASS_CIDRS"], config["data"]["TRUSTED_PROXIES"]) == (
        "10.20.0.0/16",
        "10.0.0.0/8",
    )


def _config_map(rendered: str) -> dict[str, Any]:
    """The service's ConfigMap (its environment) in a render of the users-service chart."""
    return next(
        d
        for d in yaml.safe_load_all(rendered)
        if d and (d["kind"], d["metadata"]["name"]) == ("ConfigMap", "t-users-service")
    )


def test_a_webhook_needs_its_signing_secret(helm: Helm) -> None:
    chart = CHARTS / "kubemaint-operator"
    url = "notifications.webhook.url=https://hooks.example.com/x"
    missing = helm.run("template", "t", chart, "--set", url, check=False)
    assert missing.returncode != 0
    assert "notifications.webhook.existingSecret is required with a url" in missing.stderr
    rendered = helm.run(
        "template", "t", chart, "--set", url, "--set", "notifications.webhook.existingSecret=hook"
    )
    deployment = next(d for d in yaml.safe_load_all(rendered.stdout) if d and d["kind"] == "Deployment")
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["NOTIFY_WEBHOOK_URL"]["value"] == "https://hooks.example.com/x"
    assert env["NOTIFY_WEBHOOK_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "hook",
        "key": "webhook-secret",
    }
