"""The charts' hardening, as contracts on what they render: every pod (the `helm test` pods too) is selected
by a NetworkPolicy that lets it reach exactly what it talks to, no default container takes a Secret as a
variable, only the operator mounts an API token, and every container has requests and a memory limit.

Reachability is worked out from the rendered policies the way a CNI applies them within one namespace: a
connection is allowed when a policy selecting the source allows it out and a policy selecting the
destination allows it in, with named ports resolved on the destination's containers."""

from __future__ import annotations

from typing import Any

import pytest
from bundlekit import CHART_NAMES, CHARTS, STACK, Scenario, documents

from tests.support.cli import Helm

Pod = dict[str, Any]  # {"name", "labels", "spec"} of a pod or a pod template
SUBCHARTS = ("kubemaint-operator", "users-service", "postgres", "etcd")


def _pods(objects: list[dict[str, Any]]) -> list[Pod]:
    pods = []
    for obj in objects:
        if obj["kind"] == "Pod":
            pods.append(
                {"name": obj["metadata"]["name"], "labels": obj["metadata"]["labels"], "spec": obj["spec"]}
            )
        elif obj["kind"] in ("Deployment", "StatefulSet"):
            template = obj["spec"]["template"]
            labels = template["metadata"]["labels"]
            pods.append({"name": obj["metadata"]["name"], "labels": labels, "spec": template["spec"]})
    return pods


def _pod(objects: list[dict[str, Any]], name: str) -> Pod:
    (pod,) = [p for p in _pods(objects) if p["name"] == name]
    return pod


def _policies(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == "NetworkPolicy"]


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"only matchLabels selectors are modelled here: {selector}"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _selecting(objects: list[dict[str, Any]], pod: Pod) -> list[dict[str, Any]]:
    return [p for p in _policies(objects) if _selects(p["spec"]["podSelector"], pod["labels"])]


def _peer_matches(peers: list[dict[str, Any]] | None, pod: Pod) -> bool:
    """A rule's `to`/`from` admits a pod of the same namespace (no namespaceSelector, no ipBlock)."""
    if not peers:
        return True
    return any(
        set(peer) == {"podSelector"} and _selects(peer["podSelector"], pod["labels"]) for peer in peers
    )


def _container_port(pod: Pod, port: int | str) -> int | None:
    for container in pod["spec"]["containers"]:
        for declared in container.get("ports", []):
            if port in (declared["containerPort"], declared.get("name")):
                return int(declared["containerPort"])
    return port if isinstance(port, int) else None


def _rule_allows(rule: dict[str, Any], peers_key: str, peer: Pod, target: Pod, port: int) -> bool:
    ports = rule.get("ports") or [{}]
    allowed = any(p.get("port") is None or _container_port(target, p["port"]) == port for p in ports)
    return allowed and _peer_matches(rule.get(peers_key), peer)


def reaches(objects: list[dict[str, Any]], source: Pod, target: Pod, port: int) -> bool:
    """Whether `source` may open a TCP connection to `target`'s container port `port`."""
    out = _selecting(objects, source)
    egress = [p for p in out if "Egress" in p["spec"]["policyTypes"]]
    if egress and not any(
        _rule_allows(rule, "to", target, target, port)
        for p in egress
        for rule in p["spec"].get("egress") or []
    ):
        return False
    ingress = [p for p in _selecting(objects, target) if "Ingress" in p["spec"]["policyTypes"]]
    return not ingress or any(
        _rule_allows(rule, "from", source, target, port)
        for p in ingress
        for rule in p["spec"].get("ingress") or []
    )


def _resolves_dns(objects: list[dict[str, Any]], pod: Pod) -> bool:
    kube_dns = {"k8s-app": "kube-dns"}
    for policy in _selecting(objects, pod):
        for rule in policy["spec"].get("egress") or []:
            if {"port": 53, "protocol": "UDP"} in rule.get("ports", []) and any(
                peer.get("podSelector", {}).get("matchLabels") == kube_dns for peer in rule.get("to", [])
            ):
                return True
    return False


@pytest.fixture(scope="module")
def stack(helm: Helm) -> list[dict[str, Any]]:
    return documents(helm.run("template", "shop", CHARTS / STACK, "--namespace", "shop").stdout)


def test_every_pod_is_selected_by_a_policy_for_both_directions(scenario: Scenario, helm: Helm) -> None:
    objects = documents(helm.template(scenario, "policies"))
    for pod in _pods(objects):
        policies = _selecting(objects, pod)
        types = {t for p in policies for t in p["spec"]["policyTypes"]}
        assert types == {"Ingress", "Egress"}, f"{scenario.id}: {pod['name']} is selected by {policies}"
        # The workloads' policies never select a test pod, nor a test pod's policy a workload.
        is_test = pod["labels"]["app.kubernetes.io/component"] == "test"
        for policy in policies:
            for_tests = (
                policy["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/component") == "test"
            )
            assert for_tests == is_test, f"{scenario.id}: {policy['metadata']['name']} selects {pod['name']}"


def test_the_stacks_pods_reach_what_they_talk_to_and_nothing_else(stack: list[dict[str, Any]]) -> None:
    service = _pod(stack, "shop-users-service")
    operator = _pod(stack, "shop-kubemaint-operator")
    postgres = _pod(stack, "shop-postgres")
    etcd = _pod(stack, "shop-etcd")
    assert reaches(stack, service, postgres, 5432)
    assert reaches(stack, service, etcd, 2379)
    assert reaches(stack, operator, etcd, 2379)
    assert reaches(stack, etcd, etcd, 2380), "members must reach each other's peer port"
    for test, target, port in [
        ("shop-test-story", service, 8081),
        ("shop-users-service-test-api", service, 8081),
        ("shop-kubemaint-operator-test-liveness", operator, 8080),
        ("shop-postgres-test-ready", postgres, 5432),
        ("shop-etcd-test-health", etcd, 2379),
    ]:
        assert reaches(stack, _pod(stack, test), target, port), test
    for pod in (service, operator, etcd, *[p for p in _pods(stack) if p["name"].endswith(("story", "api"))]):
        assert _resolves_dns(stack, pod), pod["name"]
    # And the policies have teeth: what no component needs is refused.
    assert not reaches(stack, service, operator, 8080)
    assert not reaches(stack, operator, postgres, 5432)
    assert not reaches(stack, postgres, etcd, 2379), "the database opens no connection at all"
    assert not reaches(stack, _pod(stack, "shop-test-story"), postgres, 5432)
    assert not reaches(stack, service, etcd, 2380), "only members use the peer port"
    assert not reaches(stack, service, postgres, 5433)


def test_the_operator_may_reach_the_api_server_on_443_and_6443(stack: list[dict[str, Any]]) -> None:
    (policy,) = [p for p in _policies(stack) if p["metadata"]["name"] == "shop-kubemaint-operator"]
    api = [r for r in policy["spec"]["egress"] if {"port": 443, "protocol": "TCP"} in r["ports"]]
    assert api == [{"ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}]}]


def test_standalone_charts_reach_each_other_across_releases(helm: Helm) -> None:
    """users-service installed on its own finds a postgres and an etcd of other releases in its namespace."""
    objects = [
        *documents(helm.run("template", "api", CHARTS / "users-service").stdout),
        *documents(helm.run("template", "db", CHARTS / "postgres").stdout),
        *documents(helm.run("template", "kv", CHARTS / "etcd").stdout),
    ]
    service = _pod(objects, "api-users-service")
    assert reaches(objects, service, _pod(objects, "db-postgres"), 5432)
    assert reaches(objects, service, _pod(objects, "kv-etcd"), 2379)


def test_the_service_policy_follows_the_configured_ports(helm: Helm) -> None:
    objects = documents(helm.run(
        "template", "api", CHARTS / "users-service", "--set", "database.port=6432",
        "--set", "etcd.endpoints=http://a:2379\\,https://b:12379/",
    ).stdout)  # fmt: skip
    (policy,) = [p for p in _policies(objects) if p["metadata"]["name"] == "api-users-service"]
    ports = [[p["port"] for p in rule["ports"]] for rule in policy["spec"]["egress"]]
    assert ports[:2] == [[6432], [2379, 12379]]
    result = helm.run(
        "template", "api", CHARTS / "users-service", "--set", "etcd.endpoints=http://etcd", check=False
    )
    assert result.returncode != 0
    assert "has no port" in result.stderr


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_network_policies_can_be_turned_off(chart: str, helm: Helm) -> None:
    prefix = [f"{sub}." for sub in SUBCHARTS] if chart == STACK else [""]
    flags = [arg for p in prefix for arg in ("--set", f"{p}networkPolicy.enabled=false")]
    objects = documents(helm.run("template", "k", CHARTS / chart, *flags).stdout)
    assert _policies(objects) == []
    assert _pods(objects), "the chart still renders its pods"


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_no_default_container_takes_a_secret_as_a_variable(chart: str, helm: Helm) -> None:
    objects = documents(helm.run("template", "k", CHARTS / chart).stdout)
    for pod in _pods(objects):
        for container in pod["spec"]["containers"]:
            from_secrets = [
                e["name"] for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})
            ]
            assert from_secrets == [], f"{chart}: {pod['name']} takes {from_secrets} from Secrets"
            names = {e["name"] for e in container.get("env", [])}
            assert not names & {"DB_PASSWORD", "POSTGRES_PASSWORD"}, pod["name"]


def test_postgres_reads_its_password_from_the_mounted_secret(helm: Helm) -> None:
    objects = documents(helm.run("template", "db", CHARTS / "postgres").stdout)
    pod = _pod(objects, "db-postgres")
    (container,) = pod["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/etc/postgres-secret"]
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == mount["name"]]
    assert env["POSTGRES_PASSWORD_FILE"] == "/etc/postgres-secret/password"
    assert volume["secret"]["secretName"] == "db-postgres"
    assert volume["secret"]["items"] == [{"key": "password", "path": "password"}]
    assert pod["spec"]["securityContext"]["runAsUser"] >= 10000


def test_only_the_operator_and_its_responder_get_an_api_token_projected_explicitly(
    stack: list[dict[str, Any]],
) -> None:
    for pod in _pods(stack):
        assert pod["spec"]["automountServiceAccountToken"] is False, pod["name"]
    holders = ["shop-kubemaint-operator", "shop-kubemaint-operator-responder"]
    for name in holders:
        spec = _pod(stack, name)["spec"]
        (container,) = spec["containers"]
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == "kube-api-access"]
        assert mount["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount"  # kubernetes_asyncio's
        assert mount["readOnly"] is True
        (volume,) = [v for v in spec["volumes"] if v["name"] == "kube-api-access"]
        sources = volume["projected"]["sources"]
        assert sources[0]["serviceAccountToken"]["path"] == "token"
        assert sources[1]["configMap"] == {
            "name": "kube-root-ca.crt",
            "items": [{"key": "ca.crt", "path": "ca.crt"}],
        }
        assert sources[2]["downwardAPI"]["items"] == [
            {"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}
        ]
    tokens = [p["name"] for p in _pods(stack) if any("projected" in v for v in p["spec"].get("volumes", []))]
    assert sorted(tokens) == holders
    accounts = {_pod(stack, name)["spec"]["serviceAccountName"] for name in holders}
    assert len(accounts) == 2, "the responder has an identity of its own (it may only read EndpointSlices)"


def test_every_container_has_requests_and_a_memory_limit(scenario: Scenario, helm: Helm) -> None:
    for pod in _pods(documents(helm.template(scenario, "resources"))):
        for container in pod["spec"]["containers"]:
            resources = container.get("resources", {})
            where = f"{scenario.id}: {pod['name']}/{container['name']}"
            assert {"cpu", "memory"} <= set(resources.get("requests", {})), where
            assert "memory" in resources.get("limits", {}), where
            assert "cpu" not in resources.get("limits", {}), f"{where}: a CPU limit throttles"
