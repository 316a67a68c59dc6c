"""The node tier: a real kubelet with containerd, in namespaces and a cgroup of their own, joined to a
control plane of its own (the session's ``node_cluster``, tests/conftest.py).

``scripts/bootstrap.sh node`` installs what it needs (the node's Go binaries and Debian's runc, CNI
plugins, socat, gcc, busybox-static); root is needed for namespaces, cgroups and mounts.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from nodekit import NodeCluster

pytestmark = pytest.mark.node


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
