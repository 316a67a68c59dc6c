"""Root fixtures: real PostgreSQL, etcd, a Kubernetes control plane and a real node, started by the suite.

Servers live under one private temporary folder per session and are stopped at the end of it (and by
atexit hooks if the run crashes). Tests that use them are marked ``integration``, ``controlplane`` or
``node`` automatically; the tests on the node run last, so that the node (a kubelet, containerd and the
pods) does not load the machine while the other tiers run.
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
    from nodekit import NodeCluster

_INTEGRATION_FIXTURES = frozenset({"postgres", "etcd", "etcd_tls", "etcd_factory", "fresh_database"})


def pytest_configure(config: pytest.Config) -> None:
    # SIGTERM (a CI timeout, `kill`) interrupts like Ctrl-C, so fixtures still stop their servers.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, signal.default_int_handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if "node_cluster" in names:
            item.add_marker(pytest.mark.node)
        elif "control_plane" in names:
            item.add_marker(pytest.mark.controlplane)
        elif names & _INTEGRATION_FIXTURES:
            item.add_marker(pytest.mark.integration)
    # Last, in their own order (a stable sort): the tiers that may start the node.
    items.sort(key=lambda item: any(item.get_closest_marker(m) for m in ("node", "e2e")))


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


@pytest.fixture(scope="session")
def node_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeCluster]:
    """A real node for the session: a kubelet with containerd, kube-proxy and CoreDNS in namespaces and a
    cgroup of their own, joined to a control plane of its own (with kube-scheduler and the controllers of a
    real cluster). Needs root and ``scripts/bootstrap.sh node``."""
    from kubemaint_devstack.controlplane import ControlPlane
    from kubemaint_devstack.node import Node
    from nodekit import NodeCluster, host_snapshot

    base = tmp_path_factory.mktemp("node")
    before = host_snapshot()
    control_plane = ControlPlane(base / "cp", node=True)
    control_plane.start()
    node = Node(base / "node", control_plane)
    try:
        node.start()
        yield NodeCluster(control_plane, node, before)
    finally:
        node.stop()
        control_plane.stop()
