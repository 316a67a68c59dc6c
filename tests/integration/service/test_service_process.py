"""The ``users-service`` console script as real processes: configuration errors, several replicas starting
at once on an empty database, start-up during maintenance, and a graceful SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubemaint_devstack.etcd import EtcdServer
from kubemaint_devstack.postgres import PostgresServer

from tests.support.polling import eventually


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DB_PORT", "not-a-port"),
        ("PORT", "99999"),
        ("LOG_FORMAT", "yaml"),
        ("DRAIN_TIMEOUT", "forever"),
        ("MAINTENANCE_ON_ETCD_LOSS", "panic"),
        ("ETCD_ENDPOINTS", "etcd-without-port"),
        ("ETCD_ENDPOINTS", "http://127.0.0.1:99999"),
        ("SEED_SAMPLE_DATA", "perhaps"),
    ],
)
def test_a_bad_environment_value_fails_start_up_naming_the_variable(
    start_process, variable: str, value: str
) -> None:
    service = start_process(**{variable: value})
    code = service.wait(30)
    output = service.log()
    assert code == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert variable in lines[0]
    assert "Traceback" not in output
    assert lines[0].startswith("users-service: invalid configuration:")


def test_a_bad_secret_is_named_but_never_shown(start_process) -> None:
    service = start_process(MAINTENANCE_BYPASS_SECRET="tiny-secret")
    assert service.wait(30) == 2
    assert "MAINTENANCE_BYPASS_SECRET" in service.log()
    assert "tiny-secret" not in service.log()


def test_several_replicas_starting_at_once_on_an_empty_database_all_succeed(
    start_process, postgres: PostgresServer, fresh_database: str
) -> None:
    replicas = [start_process() for _ in range(4)]
    for replica in replicas:
        replica.wait_ready("/readyz", timeout=60)
    for replica in replicas:
        response = httpx.get(f"{replica.url}/users", timeout=5)
        assert response.status_code == 200
        assert len(response.json()) == 3
    assert postgres.psql("select count(*) from users", database=fresh_database) == "3"
    tables = postgres.psql(
        "select count(*) from pg_tables where tablename = 'users'", database=fresh_database
    )
    assert tables == "1"


def test_a_process_started_during_maintenance_starts_in_it(
    start_process, etcd: EtcdServer, unique_key: str
) -> None:
    etcd.put(unique_key, json.dumps({"enabled": True, "reason": "started inside", "retryAfter": 120}))
    service = start_process()
    service.wait_ready("/livez")
    first = httpx.get(f"{service.url}/users", timeout=5)
    assert first.status_code == 503
    assert first.headers["retry-after"] == "120"
    assert first.json()["reason"] == "started inside"


def test_sigterm_stops_admitting_drains_in_flight_work_and_closes_the_pool(
    start_process, etcd: EtcdServer, unique_key: str, postgres: PostgresServer, fresh_database: str
) -> None:
    service = start_process(DRAIN_TIMEOUT="20")
    service.wait_ready("/readyz")
    ack_key = f"{unique_key}/acks/"
    assert etcd.etcdctl("get", "--prefix", "--keys-only", ack_key).strip()

    results: dict[str, httpx.Response | Exception] = {}

    def slow_request() -> None:
        try:
            results["slow"] = httpx.get(f"{service.url}/debug/slow", params={"seconds": 3}, timeout=30)
        except Exception as exc:  # reported by the assertion below
            results["slow"] = exc

    worker = threading.Thread(target=slow_request)
    worker.start()
    deadline = time.monotonic() + 10
    while httpx.get(f"{service.url}/stats", timeout=5).json()["inFlight"] < 1:
        assert time.monotonic() < deadline, "the slow request never started"
        time.sleep(0.02)

    service.signal(signal.SIGTERM)
    refused = False
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline and not refused:
        try:
            httpx.get(f"{service.url}/livez", timeout=0.5)
        except httpx.TransportError:
            refused = True
        time.sleep(0.05)
    assert refused, "new connections were still accepted after SIGTERM"
    assert service.process.poll() is None, "the process exited before the in-flight request finished"

    worker.join(30)
    slow = results["slow"]
    assert isinstance(slow, httpx.Response), slow
    assert slow.status_code == 200
    assert slow.json() == {"slept": 3.0}
    assert service.wait(30) == 0, service.log()
    log = service.log()
    assert "pool closed" in log
    assert "Traceback" not in log
    connections = postgres.psql(
        f"select count(*) from pg_stat_activity where datname = '{fresh_database}' "
        "and application_name like 'users-service/%'",
        database="postgres",
    )
    assert connections == "0"
    assert not etcd.etcdctl("get", "--prefix", "--keys-only", ack_key).strip()


def test_the_console_script_is_installed() -> None:
    result = subprocess.run([sys.executable, "-c", "import users_service.__main__"], check=False)
    assert result.returncode == 0


@pytest.mark.parametrize(
    ("overrides", "named"),
    [({"DB_PASSWORD": "wrong-password"}, "DB_PASSWORD"), ({"DB_NAME": "no_such_database"}, "DB_NAME")],
)
def test_refused_credentials_or_a_missing_database_fail_start_up(
    start_process, overrides: dict[str, str], named: str
) -> None:
    service = start_process(**overrides)
    assert service.wait(60) == 2
    log = service.log()
    assert named in log
    assert "Traceback" not in log
    assert "wrong-password" not in log


def test_the_password_can_come_from_a_mounted_file(
    start_process, postgres: PostgresServer, tmp_path: Path
) -> None:
    """What the chart does: DB_PASSWORD_FILE names a Secret file, DB_PASSWORD is not in the environment."""
    secret = tmp_path / "password"
    secret.write_text(postgres.password + "\n")
    service = start_process(DB_PASSWORD="", DB_PASSWORD_FILE=str(secret))
    service.wait_ready("/readyz", timeout=60)
    assert httpx.get(f"{service.url}/users", timeout=5).status_code == 200
    assert postgres.password not in service.log()


@pytest.mark.parametrize("case", ["missing", "both"])
def test_an_unusable_password_file_fails_start_up_in_one_line(
    start_process, postgres: PostgresServer, tmp_path: Path, case: str
) -> None:
    secret = tmp_path / "password"
    if case == "both":
        secret.write_text(postgres.password)
        service = start_process(DB_PASSWORD_FILE=str(secret))  # DB_PASSWORD is set by service_env
    else:
        service = start_process(DB_PASSWORD="", DB_PASSWORD_FILE=str(secret))
    assert service.wait(30) == 2
    lines = service.log().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("users-service: invalid configuration: DB_PASSWORD_FILE")
    assert postgres.password not in lines[0]


def test_a_browser_gets_the_deployment_page_and_a_machine_the_problem(
    start_process, etcd: EtcdServer, unique_key: str, tmp_path: Path
) -> None:
    """MAINTENANCE_PAGE_FILE, as the chart mounts it: the real service answers a browser with that page, the
    reason escaped, the status page linked; curl's ``*/*`` keeps problem+json; both carry Retry-After."""
    template = tmp_path / "page.html"
    template.write_text("<!doctype html><h1>$title</h1><p>$reason</p>$status_page_link\n")
    service = start_process(MAINTENANCE_PAGE_FILE=str(template))
    service.wait_ready("/readyz", timeout=60)
    page = "https://status.example.com/db"
    etcd.put(unique_key, json.dumps({"enabled": True, "reason": "<b>db</b> upgrade", "statusPage": page}))
    deadline = time.monotonic() + 15
    while (answer := httpx.get(f"{service.url}/users", timeout=5)).status_code != 503:
        assert time.monotonic() < deadline, "the maintenance never took effect"
        time.sleep(0.1)
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["statusPage"] == page
    browser = httpx.get(f"{service.url}/users", headers={"Accept": "text/html,*/*;q=0.8"}, timeout=5)
    assert browser.status_code == 503
    assert browser.headers["content-type"] == "text/html; charset=utf-8"
    assert browser.headers["retry-after"] == "60"
    assert browser.headers["link"] == f'<{page}>; rel="help"'
    assert "<p>&lt;b&gt;db&lt;/b&gt; upgrade</p>" in browser.text
    assert f'<a href="{page}" rel="help">' in browser.text


@pytest.mark.parametrize("content", [None, "", "x" * (64 * 1024 + 1)])
def test_an_unusable_page_file_fails_start_up_in_one_line(
    start_process, tmp_path: Path, content: str | None
) -> None:
    template = tmp_path / "page.html"
    if content is not None:
        template.write_text(content)
    service = start_process(MAINTENANCE_PAGE_FILE=str(template))
    assert service.wait(30) == 2
    lines = service.log().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("users-service: invalid configuration: MAINTENANCE_PAGE_FILE")


def test_paths_narrow_the_maintenance_and_skip_paths_widen_what_is_served(
    start_process, etcd: EtcdServer, unique_key: str
) -> None:
    """A value with ``paths`` blocks only those (``/users/*``: one user, not the list); a path in
    MAINTENANCE_SKIP_PATHS is served whatever the value covers."""
    service = start_process(MAINTENANCE_SKIP_PATHS="/users/1")
    service.wait_ready("/readyz", timeout=60)
    etcd.put(unique_key, json.dumps({"enabled": True, "paths": ["/users/*"]}))
    deadline = time.monotonic() + 15
    while httpx.get(f"{service.url}/users/2", timeout=5).status_code != 503:
        assert time.monotonic() < deadline, "the maintenance never took effect"
        time.sleep(0.1)
    listing = httpx.get(f"{service.url}/users", timeout=5)
    assert listing.status_code == 200, "outside the value's paths"
    assert listing.headers["x-maintenance"] == "on"
    assert httpx.get(f"{service.url}/users/1", timeout=5).status_code != 503, "a skip path"
    assert httpx.get(f"{service.url}/users/2", timeout=5).json()["paths"] == ["/users/*"]


def _in_maintenance(service: Any, etcd: EtcdServer, key: str) -> None:
    etcd.put(key, "true")
    deadline = time.monotonic() + 15
    while httpx.get(f"{service.url}/users", timeout=5).status_code != 503:
        assert time.monotonic() < deadline, "the maintenance never took effect"
        time.sleep(0.1)


def test_the_browser_bypass_sets_a_cookie_and_the_secret_is_never_logged(
    start_process, etcd: EtcdServer, unique_key: str
) -> None:
    secret = "a-bypass-secret-nobody-guesses"
    service = start_process(MAINTENANCE_BYPASS_SECRET=secret, LOG_LEVEL="DEBUG")
    service.wait_ready("/readyz", timeout=60)
    _in_maintenance(service, etcd, unique_key)
    refused = httpx.get(f"{service.url}/_maintenance/bypass", params={"secret": "guess"}, timeout=5)
    assert refused.status_code == 403
    visit = httpx.get(f"{service.url}/_maintenance/bypass", params={"secret": secret}, timeout=5)
    assert visit.status_code == 303
    cookie = visit.headers["set-cookie"]
    for attribute in ("HttpOnly", "Secure", "SameSite=Strict"):
        assert attribute in cookie
    value = cookie.split(";", 1)[0]
    served = httpx.get(f"{service.url}/users", headers={"Cookie": value}, timeout=5)
    assert served.status_code == 200
    assert httpx.get(f"{service.url}/users", timeout=5).status_code == 503, "no cookie, no bypass"
    time.sleep(0.5)  # the access log lines are written
    log = service.log()
    assert "/_maintenance/bypass" in log, "the visits are logged..."
    assert secret not in log, "...but not the secret"
    assert value.split("=", 1)[1] not in log, "nor the cookie"


def test_a_bypass_network_is_served_through_maintenance(
    start_process, etcd: EtcdServer, unique_key: str
) -> None:
    service = start_process(MAINTENANCE_BYPASS_CIDRS="127.0.0.0/8")
    service.wait_ready("/readyz", timeout=60)
    etcd.put(unique_key, "true")
    eventually(
        lambda: httpx.get(f"{service.url}/stats", timeout=5).json()["maintenance"]["maintenance"],
        15,
        "in force",
    )  # the loopback client is served, so there is no 503 to wait for
    assert httpx.get(f"{service.url}/users", timeout=5).status_code == 200
