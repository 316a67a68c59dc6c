"""Helpers of the tiers that run on the real node (tests/node, and tests/e2e where there is no kind): the
cluster the session starts, a snapshot of the host's state, and a restricted pod of the busybox image."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubemaint_devstack.images import BUSYBOX

if TYPE_CHECKING:
    from kubemaint_devstack.controlplane import ControlPlane
    from kubemaint_devstack.node import Node

WATCHED_SYSCTLS = (
    "vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
    "net/ipv4/ip_forward", "net/ipv4/conf/all/route_localnet", "net/bridge/bridge-nf-call-iptables",
)  # fmt: skip
NODE_PATHS = ("/var/lib/kubelet", "/var/log/pods", "/var/log/containers", "/run/containerd",
              "/var/lib/containerd", "/var/lib/cni", "/etc/cni/net.d", "/run/netns")  # fmt: skip


@dataclass(frozen=True)
class NodeCluster:
    """The session's node (the ``node_cluster`` fixture of tests/conftest.py) and its control plane."""

    control_plane: ControlPlane
    node: Node
    host_before: dict[str, object]
    """What the host looked like before the node started (sysctls, links, mounts, firewall)."""


def _run(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30).stdout


def host_snapshot() -> dict[str, Any]:
    """The host's interfaces, routes, firewall, mounts, watched sysctls and the node's usual paths."""
    sysctls = {}
    for name in WATCHED_SYSCTLS:
        path = Path("/proc/sys") / name
        sysctls[name] = path.read_text().strip() if path.exists() else None
    mounts = sorted(line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines())
    return {
        "links": sorted(line.split(":")[1].strip() for line in _run("ip", "-o", "link").splitlines()),
        "routes": _run("ip", "route"),
        "iptables": _run("iptables-save").splitlines()[1:-1],  # without the dated comment lines
        "mounts": mounts,
        "sysctls": sysctls,
        "paths": [p for p in NODE_PATHS if Path(p).exists()],
        "cgroups": sorted(str(p) for p in Path("/sys/fs/cgroup").glob("*/kubemaint-*")),
    }


def restricted_pod(name: str, namespace: str, command: str, **probes: Any) -> dict[str, Any]:
    """A pod that the ``restricted`` Pod Security Standard admits, running ``command`` in busybox."""
    container: dict[str, Any] = {
        "name": "main",
        "image": BUSYBOX,
        "imagePullPolicy": "Never",
        "command": ["/bin/sh", "-c", command],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
        },
        "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
        **probes,
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 2,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534,
                                "fsGroup": 65534, "seccompProfile": {"type": "RuntimeDefault"}},
            "volumes": [{"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}],
            "containers": [container],
        },
    }  # fmt: skip
