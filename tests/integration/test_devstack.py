"""The test harness itself: real PostgreSQL and etcd come up, keep their data and ports, and clean up."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from kubemaint_devstack.etcd import EtcdServer
from kubemaint_devstack.postgres import PostgresServer, reachable_data_dir
from kubemaint_devstack.process import StartError, pid_alive, tail

from tests.support.cli import devstack


def test_postgres_answers_with_password_auth(postgres: PostgresServer) -> None:
    assert postgres.psql("select current_user || '@' || current_database()") == "kubemaint@kubemaint"
    assert postgres.password in postgres.dsn


def test_postgres_rejects_a_wrong_password(postgres: PostgresServer) -> None:
    real = postgres.password
    postgres.password = real + "-wrong"
    try:
        with pytest.raises(RuntimeError, match="password authentication failed"):
            postgres.psql("select 1")
    finally:
        postgres.password = real


def test_fresh_database_is_empty_and_separate(postgres: PostgresServer, fresh_database: str) -> None:
    tables = postgres.psql(
        "select count(*) from information_schema.tables where table_schema = 'public'",
        database=fresh_database,
    )
    assert tables == "0"
    postgres.psql("create table t (x int); insert into t values (41), (1)", database=fresh_database)
    assert postgres.psql("select sum(x) from t", database=fresh_database) == "42"
    assert postgres.psql("select to_regclass('public.t') is null") == "t"


def test_etcd_put_get_delete(etcd: EtcdServer, unique_key: str) -> None:
    assert etcd.get(unique_key) is None
    revision = etcd.put(unique_key, "-looks like a flag\n")
    assert revision == etcd.revision()
    assert etcd.get(unique_key) == "-looks like a flag\n"
    assert etcd.delete(unique_key) == 1
    assert etcd.get(unique_key) is None


def test_unique_keys_differ(unique_key: str) -> None:
    assert unique_key.startswith("/maintenance/test-")
    assert unique_key != f"/maintenance/test-{'0' * 12}"


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_etcd_restart_keeps_endpoint_and_data(etcd_factory: Callable[[], EtcdServer], how: str) -> None:
    server = etcd_factory()
    endpoint = server.endpoint
    revision = server.put("/maintenance/users-service", "true")
    getattr(server, how)()
    assert not server.running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
    server.start()
    assert server.endpoint == endpoint
    assert server.get("/maintenance/users-service") == "true"
    assert server.revision() == revision


def test_etcd_factory_servers_are_independent(
    etcd_factory: Callable[[], EtcdServer], etcd: EtcdServer
) -> None:
    first, second = etcd_factory(), etcd_factory()
    assert len({first.endpoint, second.endpoint, etcd.endpoint}) == 3
    first.put("/only/here", "1")
    assert second.get("/only/here") is None


def test_etcd_compaction_removes_old_revisions(etcd_factory: Callable[[], EtcdServer]) -> None:
    server = etcd_factory()
    old = server.put("/k", "1")
    server.put("/k", "2")
    server.compact(server.revision())
    with pytest.raises(RuntimeError, match="compacted"):
        server.etcdctl("get", "/k", f"--rev={old}")
    assert server.get("/k") == "2"


def test_start_failure_reports_the_log(tmp_path: Path) -> None:
    broken = EtcdServer(tmp_path / "broken", start_timeout=20)
    broken.process.argv.append("--no-such-flag")
    with pytest.raises(
        StartError, match=r"exited with code \d+ before healthy\n--- last lines of .*broken\.log"
    ):
        broken.start()
    assert "no-such-flag" in tail(broken.log_path)
    assert not broken.running


def test_start_refuses_a_port_in_use(etcd: EtcdServer, tmp_path: Path) -> None:
    clash = EtcdServer(tmp_path / "clash", port=etcd.port)
    with pytest.raises(StartError, match=f"port {etcd.port} on 127.0.0.1 is already in use"):
        clash.start()
    assert not clash.running
    assert etcd.get("/nothing") is None  # the running server is untouched


def test_processes_die_with_a_crashed_owner(tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from kubemaint_devstack.etcd import EtcdServer\n"
        f"s = EtcdServer(Path({str(tmp_path / 'orphan')!r})); s.start()\n"
        "print(s.port, s.process.pid, flush=True); raise SystemExit(3)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 3, result.stderr
    port, pid = (int(x) for x in result.stdout.split())
    assert not pid_alive(pid)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_devstack_cli_up_env_down(devstack_dir: Path) -> None:
    base = devstack_dir / "cli-stack"
    try:
        up = devstack(base, "up")
        assert up.returncode == 0, up.stderr
        env = devstack(base, "env", timeout=30, check=True).stdout
        exports = dict(line.removeprefix("export ").split("=", 1) for line in env.splitlines())
        assert set(exports) == {"DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD", "DB_NAME", "ETCD_ENDPOINTS"}
        server = PostgresServer(base / "postgres", int(exports["DB_PORT"]), password=exports["DB_PASSWORD"])
        assert server.psql("select 40 + 2") == "42"
        assert devstack(base, "status", timeout=30).returncode == 0
    finally:
        devstack(base, "down", check=True)
    assert devstack(base, "status", timeout=30).returncode == 1
    with pytest.raises(RuntimeError):
        server.psql("select 1")


def test_devstack_postgres_starts_from_a_folder_its_os_user_cannot_enter() -> None:
    """A CI clone under ``mktemp -d`` (mode 700): as root, the data dir moves where PostgreSQL can go."""
    private = Path(tempfile.mkdtemp(prefix="kubemaint-private-"))  # mode 700
    try:
        data_dir = reachable_data_dir(private / "stack" / "postgres")
        if os.geteuid() == 0:
            assert not data_dir.is_relative_to(private)
        else:
            assert data_dir == private / "stack" / "postgres"
        with PostgresServer(data_dir) as server:
            assert server.psql("select 40 + 2") == "42"
    finally:
        shutil.rmtree(private, ignore_errors=True)
        if not data_dir.is_relative_to(private):
            shutil.rmtree(data_dir.parent, ignore_errors=True)
