"""Root fixtures: real PostgreSQL, etcd and a Kubernetes control plane, started by the suite itself.

Servers live under one private temporary folder per session and are stopped at the end of it (and by
atexit hooks if the run crashes). Tests that use them are marked ``integration`` or ``controlplane``
automatically.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from kubemaint_devstack.etcd import EtcdServer
from kubemaint_devstack.postgres import PostgresServer

if TYPE_CHECKING:
    from kubemaint_devstack.controlplane import ControlPlane

_INTEGRATION_FIXTURES = frozenset({"postgres", "etcd", "etcd_tls", "etcd_factory", "fresh_database"})


def pytest_configure(config: pytest.Config) -> None:
    # SIGTERM (a CI timeout, `kill`) interrupts like Ctrl-C, so fixtures still stop their servers.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, signal.default_int_handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if "control_plane" in names:
            item.add_marker(pytest.mark.controlplane)
        elif names & _INTEGRATION_FIXTURES:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def devstack_dir() -> Iterator[Path]:
    """A short private folder for the session's servers (short: unix socket paths are limited).

    Mode 711 lets the unprivileged PostgreSQL user traverse it when the suite runs as root.
    Set KUBEMAINT_KEEP_TEST_DIRS=1 to keep it (logs, data) after the run.
    """
    base = Path(tempfile.mkdtemp(prefix="kubemaint-test-"))
    base.chmod(0o711)
    yield base
    if not os.environ.get("KUBEMAINT_KEEP_TEST_DIRS"):
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres(devstack_dir: Path) -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session (scram password auth, database ``kubemaint``)."""
    with PostgresServer(devstack_dir / "postgres") as server:
        yield server


@pytest.fixture(scope="session")
def etcd(devstack_dir: Path) -> Iterator[EtcdServer]:
    """One etcd server for the session's application keys. Tests must not stop it: use etcd_factory."""
    with EtcdServer(devstack_dir / "etcd", name="app") as server:
        yield server


@pytest.fixture(scope="session")
def etcd_tls(devstack_dir: Path) -> Iterator[EtcdServer]:
    """One etcd serving TLS only and demanding client certificates: ``.endpoint`` is https, ``.ca_file``,
    ``.client_cert_file`` and ``.client_key_file`` are what a client needs. Tests must not stop it."""
    with EtcdServer(devstack_dir / "etcd-tls", name="tls", tls=True, client_cert_auth=True) as server:
        yield server


@pytest.fixture
def etcd_factory(devstack_dir: Path) -> Iterator[Callable[[], EtcdServer]]:
    """Make fresh, started etcd servers that the test may stop, kill and restart; all cleaned up."""
    made: list[EtcdServer] = []

    def make() -> EtcdServer:
        server = EtcdServer(devstack_dir / f"etcd-{secrets.token_hex(4)}", name=f"e{len(made)}")
        made.append(server)
        server.start()
        return server

    yield make
    for server in made:
        server.stop()
        shutil.rmtree(server.data_dir, ignore_errors=True)


@pytest.fixture
def unique_key() -> str:
    """A maintenance key no other test uses."""
    return f"/maintenance/test-{secrets.token_hex(6)}"


@pytest.fixture
def fresh_database(postgres: PostgresServer) -> Iterator[str]:
    """A new empty database on the session server; dropped (connections forced out) afterwards."""
    name = f"test_{secrets.token_hex(6)}"
    postgres.create_database(name)
    yield name
    postgres.drop_database(name)


@pytest.fixture(scope="session")
def control_plane(devstack_dir: Path) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver + kube-controller-manager for the session (admin kubeconfig, RBAC on)."""
    from kubemaint_devstack.controlplane import ControlPlane

    with ControlPlane(devstack_dir / "controlplane") as cluster:
        yield cluster
