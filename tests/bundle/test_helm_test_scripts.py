"""The scripts of the charts' `helm test` pods, run against the real users service.

No kubelet runs the test pods here, so this test runs their Python scripts itself: the users service is
started as a local process with the environment of the umbrella chart's ConfigMap (only the addresses of
PostgreSQL and etcd, and the port, point at the suite's local servers), and each script's Service URL is
replaced by the local one. During a maintenance the same scripts must fail."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from bundlekit import CHARTS, STACK, documents
from kubemaint_devstack.process import free_port

from tests.support.cli import Helm

if TYPE_CHECKING:
    from kubemaint_devstack.etcd import EtcdServer
    from kubemaint_devstack.postgres import PostgresServer

RELEASE = "shop"
SERVICE_URL = f"http://{RELEASE}-users-service:8081"


@pytest.fixture(scope="module")
def rendered(helm: Helm) -> list[dict[str, Any]]:
    return documents(helm.run("template", RELEASE, CHARTS / STACK, "--namespace", "shop").stdout)


def _test_scripts(objects: list[dict[str, Any]]) -> dict[str, str]:
    """name -> Python source of every helm test pod that runs `python -c` against the users service."""
    scripts = {}
    for obj in objects:
        annotations = obj["metadata"].get("annotations", {})
        if obj["kind"] != "Pod" or annotations.get("helm.sh/hook") != "test":
            continue
        (container,) = obj["spec"]["containers"]
        if container.get("command") == ["python", "-c"] and SERVICE_URL in container["args"][0]:
            scripts[obj["metadata"]["name"]] = container["args"][0]
    return scripts


@pytest.fixture
def own_etcd(etcd_factory: Callable[[], EtcdServer]) -> EtcdServer:
    """An etcd of this test's own: the chart's key (/maintenance/users-service) is shared by nobody."""
    return etcd_factory()


@pytest.fixture
def service_url(
    rendered: list[dict[str, Any]],
    postgres: PostgresServer,
    fresh_database: str,
    own_etcd: EtcdServer,
    tmp_path: Path,
) -> Iterator[str]:
    (config,) = [
        o for o in rendered if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("users-service")
    ]
    port = free_port()
    password_file = tmp_path / "password"
    password_file.write_text(postgres.password)
    env = {
        **os.environ,
        **config["data"],
        "DB_HOST": postgres.host,
        "DB_PORT": str(postgres.port),
        "DB_USER": postgres.user,
        "DB_PASSWORD_FILE": str(password_file),  # the chart's way: a file, never the variable
        "DB_NAME": fresh_database,
        "ETCD_ENDPOINTS": own_etcd.endpoint,
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    log = (tmp_path / "service.log").open("wb")
    process = subprocess.Popen(
        [Path(sys.executable).with_name("users-service")], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2):
                break
        except OSError:
            assert process.poll() is None, (tmp_path / "service.log").read_text()
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=30)
    log.close()


def _run(script: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script.replace(SERVICE_URL, url)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_helm_test_scripts_pass_against_the_service(
    rendered: list[dict[str, Any]], service_url: str, own_etcd: EtcdServer
) -> None:
    scripts = _test_scripts(rendered)
    assert set(scripts) == {f"{RELEASE}-test-story", f"{RELEASE}-users-service-test-api"}
    for name, script in scripts.items():
        result = _run(script, service_url)
        assert result.returncode == 0, f"{name}: {result.stderr}"

    # The chart's MAINTENANCE_KEY, put into maintenance by hand: the story must now fail (503).
    (config,) = [
        o for o in rendered if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("users-service")
    ]
    key = config["data"]["MAINTENANCE_KEY"]
    own_etcd.put(key, "true")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        result = _run(scripts[f"{RELEASE}-test-story"], service_url)
        if result.returncode != 0:
            break
        time.sleep(0.2)
    assert result.returncode != 0
    assert "503" in result.stderr
