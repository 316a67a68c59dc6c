"""The local node's addresses. They exist only inside the network namespace that the node harness makes
(:mod:`kubemaint_devstack.node`): nothing on the host has an address or a route in these ranges."""

from __future__ import annotations

NODE_NAME = "kubemaint-node"
NODE_IP = "10.213.0.2"
"""The node's InternalIP, on a veth pair whose both ends stay in the node's namespace."""
NODE_CIDR = "10.213.0.0/24"
POD_CIDR = "10.244.0.0/24"
"""Pod addresses (the CNI bridge's host-local range)."""
CLUSTER_DOMAIN = "cluster.local"
