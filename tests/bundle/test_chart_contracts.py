"""The charts speak the processes' language: every environment variable they set is a setting of the users
service or the operator, and the umbrella chart wires the two to the same etcd key."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from bundlekit import CHARTS, ROOT, STACK, Scenario, documents
from kubemaint.state import key_for
from kubemaint_operator.responder import ResponderSettings
from kubemaint_operator.settings import OperatorSettings
from users_service.settings import Settings

from tests.support.cli import Helm

KOPF_ENV = {"POD_ID"}  # read by kopf itself (the peer identity)


def _container_env(objects: list[dict[str, Any]], deployment: str) -> dict[str, str | None]:
    (dep,) = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == deployment]
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    env: dict[str, str | None] = {e["name"]: e.get("value") for e in container.get("env", [])}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        (config,) = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == name]
        env |= config["data"]
    return env


def _mounted_secret(pod: dict[str, Any], container: dict[str, Any], path: str) -> tuple[str, str]:
    """(Secret name, key) of the Secret volume item that the container sees at ``path``."""
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount in container["volumeMounts"]:
        secret = volumes[mount["name"]].get("secret")
        for item in (secret or {}).get("items", []):
            if f"{mount['mountPath']}/{item['path']}" == path:
                return secret["secretName"], item["key"]
    raise AssertionError(f"no Secret is mounted at {path}")


def test_service_and_operator_read_every_variable_the_charts_set(app_scenario: Scenario, helm: Helm) -> None:
    scenario = app_scenario
    objects = documents(helm.template(scenario, "contracts"))
    service_fields = {name.upper() for name in Settings.model_fields}
    operator_fields = {name.upper() for name in OperatorSettings.model_fields} | KOPF_ENV
    responder_fields = {name.upper() for name in ResponderSettings.model_fields}
    for obj in objects:
        if obj["kind"] != "Deployment":
            continue
        name = obj["metadata"]["name"]
        known = (
            operator_fields if name.endswith("kubemaint-operator")
            else responder_fields if name.endswith("-responder")
            else service_fields
        )  # fmt: skip
        deployed = set(_container_env(objects, name))
        assert deployed, f"{scenario.id}: {name} sets no variables"
        unknown = deployed - known
        assert unknown == set(), f"{scenario.id}: {name} sets variables nobody reads: {unknown}"


@pytest.mark.parametrize("prefix", ["/maintenance", "/ops/maint", "/ops/maint/"])
def test_umbrella_wires_the_service_key_to_the_operators_key(helm: Helm, prefix: str) -> None:
    objects = documents(helm.run(
        "template", "shop", CHARTS / STACK, "--namespace", "shop",
        "--set", f"kubemaint-operator.maintenancePrefix={prefix}",
        "--set", f"users-service.maintenance.prefix={prefix}",
    ).stdout)  # fmt: skip
    service = _container_env(objects, "shop-users-service")
    operator = _container_env(objects, "shop-kubemaint-operator")
    # The operator writes key_for(spec.service, MAINTENANCE_PREFIX); a Maintenance names SERVICE_NAME. The
    # chart's maintenanceKey helper is a copy of the library's key_for: this holds the two together.
    assert service["MAINTENANCE_KEY"] == key_for(service["SERVICE_NAME"], operator["MAINTENANCE_PREFIX"])
    assert service["ETCD_ENDPOINTS"] == operator["ETCD_ENDPOINTS"] == "http://shop-etcd:2379"
    assert service["DB_HOST"] == "shop-postgres"
    assert service["PORT"] == "8081"
    assert service["LOG_FORMAT"] == operator["LOG_FORMAT"] == "json"
    (dep,) = [
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "shop-users-service"
    ]
    pod = dep["spec"]["template"]
    assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == service["SERVICE_NAME"], (
        "a Maintenance's default selector is app.kubernetes.io/name=<spec.service>"
    )
    assert pod["spec"]["readinessGates"] == [{"conditionType": "kubemaint.io/serving"}]
    (container,) = pod["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert "DB_PASSWORD" not in service, "the password comes as a file (DB_PASSWORD_FILE), never a variable"
    assert _mounted_secret(pod["spec"], container, service["DB_PASSWORD_FILE"]) == (
        "shop-postgres",
        "password",
    )
    (postgres_secret,) = [
        o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"] == "shop-postgres"
    ]
    assert "password" in postgres_secret["data"]


def test_operator_liveness_probe_hits_kopfs_endpoint(helm: Helm) -> None:
    objects = documents(helm.run("template", "k", CHARTS / "kubemaint-operator").stdout)
    env = _container_env(objects, "k-kubemaint-operator")
    (dep,) = [
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "k-kubemaint-operator"
    ]
    assert dep["spec"]["replicas"] == 2
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    assert env["LIVENESS_ENDPOINT"] == "http://0.0.0.0:8080/healthz"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {"name": "health", "containerPort": 8080, "protocol": "TCP"} in container["ports"]
    assert env["PEERING_NAME"] == "k-kubemaint-operator"


def test_kustomize_overlay_wires_the_same_contract(kubectl_binary: Path) -> None:
    manifest = subprocess.run(
        [kubectl_binary, "kustomize", str(ROOT / "k8s" / "overlays" / "kind")],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    objects = documents(manifest)
    service = _container_env(objects, "users-service")
    operator = _container_env(objects, "kubemaint-operator")
    assert set(service) <= {name.upper() for name in Settings.model_fields}
    assert set(operator) <= {name.upper() for name in OperatorSettings.model_fields} | KOPF_ENV
    assert service["MAINTENANCE_KEY"] == key_for(service["SERVICE_NAME"], operator["MAINTENANCE_PREFIX"])
    assert service["ETCD_ENDPOINTS"] == operator["ETCD_ENDPOINTS"]
    services = {o["metadata"]["name"] for o in objects if o["kind"] == "Service"}
    assert {"postgres", "etcd", "users-service"} <= services
    assert service["DB_HOST"] == "postgres"
    assert service["ETCD_ENDPOINTS"] == "http://etcd:2379"


def test_the_operator_finds_the_responder_the_chart_runs(helm: Helm) -> None:
    """RESPONDER_SERVICE names the responder's Service, which selects the responder's pods only, on the
    operator's ports; with the responder off the operator is not told of one."""
    objects = documents(helm.run("template", "k", CHARTS / "kubemaint-operator", "--namespace", "ops").stdout)
    env = _container_env(objects, "k-kubemaint-operator")
    namespace, _, name = env["RESPONDER_SERVICE"].partition("/")
    (service,) = [o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == name]
    (responder,) = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == name]
    pod_labels = responder["spec"]["template"]["metadata"]["labels"]
    assert namespace == "ops"
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert _container_env(objects, name)["RESPONDER_PORTS"] == env["RESPONDER_PORTS"]
    for other in objects:  # no selector of the operator's picks a responder pod
        selector = (other.get("spec") or {}).get("selector") or {}
        selector = selector.get("matchLabels", selector) if other["kind"] != "Service" else selector
        if other["metadata"]["name"] != name and isinstance(selector, dict) and selector:
            assert not selector.items() <= pod_labels.items(), f"{other['kind']} {other['metadata']['name']}"
    off = documents(
        helm.run("template", "k", CHARTS / "kubemaint-operator", "--set", "responder.enabled=false").stdout
    )
    assert "RESPONDER_SERVICE" not in _container_env(off, "k-kubemaint-operator")
    assert not [o for o in off if o["metadata"]["name"].endswith("-responder")]
