"""The node tier: a real kubelet with containerd, in namespaces and a cgroup of its own, joined to a
control plane of its own (kube-scheduler and a real cluster's controllers), started once per session.

``scripts/bootstrap.sh node`` installs what it needs (the node's Go binaries and Debian's runc, CNI
plugins, socat, gcc, busybox-static); root is needed for namespaces, cgroups and mounts.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from kubemaint_devstack.controlplane import ControlPlane
from kubemaint_devstack.node import Node
from node_support import host_snapshot

pytestmark = pytest.mark.node


@dataclass(frozen=True)
class NodeCluster:
    control_plane: ControlPlane
    node: Node
    host_before: dict[str, object]
    """What the host looked like before the node started (sysctls, links, mounts, firewall)."""


@pytest.fixture(scope="session")
def node_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeCluster]:
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


@pytest.fixture
def namespace(node_cluster: NodeCluster) -> Iterator[str]:
    """A namespace that enforces the Pod Security Standard ``restricted``."""
    name = f"node-{secrets.token_hex(4)}"
    cp = node_cluster.control_plane
    cp.kubectl("create", "namespace", name)
    cp.kubectl("label", "namespace", name, "pod-security.kubernetes.io/enforce=restricted")
    cp.kubectl("wait", "--for=create", "serviceaccount/default", "-n", name, "--timeout=30s")
    yield name
    cp.kubectl("delete", "namespace", name, "--wait=false")
