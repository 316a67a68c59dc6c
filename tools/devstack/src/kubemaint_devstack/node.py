"""A real Kubernetes node on this machine, without Docker, confined to namespaces and a cgroup it makes.

The node is a kubelet with containerd (runc and the CNI plugins from Debian) that joins a
:class:`~kubemaint_devstack.controlplane.ControlPlane` started with ``node=True``. Everything it touches
is its own, and goes when it stops:

- **Network**: a network namespace held by one process (``unshare``). The node's address
  (:data:`~kubemaint_devstack.nodenet.NODE_IP`, on a veth pair whose both ends stay inside), the CNI
  bridge, the pods, iptables rules and per-namespace sysctls such as ``ip_forward`` exist only in there.
  The host gets no interface, route or rule. The node reaches the API server, which listens on the host's
  loopback only, through a unix socket (``socat`` on each side); the API server reaches kubelets and pods
  through :mod:`kubemaint_devstack.connect_proxy` on another unix socket (its egress selector).
- **Mounts**: a private mount namespace shared by the kubelet, containerd, its shims and runc, so the
  volumes, overlay root filesystems and pod network namespaces they mount are seen by all of them and by
  nothing else. ``/var/lib``, ``/var/log`` and ``/run`` are fresh tmpfs in there (the kubelet writes to
  ``/var/lib/kubelet`` and ``/var/log/pods`` whatever its ``--root-dir``). When the last process leaves,
  the kernel drops every mount.
- **Kernel settings**: the kubelet sets ``vm.overcommit_memory``, ``kernel.panic`` and
  ``kernel.panic_on_oops`` at start when they differ from what it wants, and those are global. In the
  node's mount namespace those files are covered by files that already hold the kubelet's values, so it
  reads them, finds nothing to change, and the host's settings are never written.
- **Processes and cgroups**: a cgroup of its own in every v1 hierarchy (``kubemaint-<id>``), the
  kubelet's ``cgroupRoot``: the node's processes run in ``<id>/system``, the pods in ``<id>/kubepods``.
  Stopping kills everything in it and removes it.

This machine's limits are set as the node notes say: root lacks CAP_SYS_RESOURCE, so containerd has
``restrict_oom_score_adj`` and the kubelet ``oomScoreAdj: 0``; only cgroup v1 is mounted, so the kubelet
has ``failCgroupV1: false`` and ``cgroupDriver: cgroupfs``. Images come from
:mod:`kubemaint_devstack.images` (no registry): ``imageGCHighThresholdPercent: 100`` keeps them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .controlplane import ControlPlane
from .images import PAUSE, busybox_archive, pause_archive
from .kubeconfig import write_kubeconfig
from .nodenet import CLUSTER_DOMAIN, NODE_CIDR, NODE_IP, NODE_NAME, POD_CIDR
from .process import ManagedProcess, Server, StartError
from .tools import find_tool

__all__ = ["Node", "NodeError", "node_cgroup", "teardown"]

RUNC = Path("/usr/sbin/runc")
CNI_BIN = Path("/usr/lib/cni")
DEBIAN_PACKAGES = (
    "runc containernetworking-plugins socat iptables busybox-static gcc libc6-dev buildah debootstrap"
)
# What the kubelet wants these global settings to be (pkg/kubelet/cm: setupKernelTunables).
KUBELET_SYSCTLS = {
    "vm/overcommit_memory": "1",
    "vm/panic_on_oom": "0",
    "kernel/panic": "10",
    "kernel/panic_on_oops": "1",
    "kernel/keys/root_maxkeys": "1000000",
    "kernel/keys/root_maxbytes": "25000000",
}
CGROUP_ROOT = Path("/sys/fs/cgroup")


def ctr(containerd_socket: Path, *args: str) -> str:
    """``ctr`` against a node's containerd (by its socket), in the ``k8s.io`` namespace the kubelet uses."""
    result = subprocess.run(
        [find_tool("ctr", prefer_cache=True), "--address", str(containerd_socket), "-n", "k8s.io", *args],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise StartError(f"ctr {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


class NodeError(RuntimeError):
    """The node cannot start here; the message says what is missing."""


def node_cgroup(base_dir: Path) -> str:
    """The node's cgroup name: one per state folder, so two stacks never share one."""
    return "kubemaint-" + hashlib.sha256(str(base_dir.resolve()).encode()).hexdigest()[:10]


def _hierarchies(*, unified: bool = False) -> list[Path]:
    """Mount points of the cgroup v1 hierarchies (cpu, memory, pids, name=systemd...), and with
    ``unified`` the cgroup2 one too (empty here, but runc makes the pods' groups in it as well)."""
    kinds = {"cgroup", "cgroup2"} if unified else {"cgroup"}
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[fields.index("-") + 1] in kinds:
            found.append(Path(fields[4]))
    return found


def _subtree(directory: Path) -> list[Path]:
    """``directory`` and every folder below it, deepest first. The walk skips what vanishes meanwhile
    (containerd and the kubelet remove pod cgroups while the node stops); ``rglob`` would raise."""
    return [Path(top) for top, _, _ in os.walk(directory, topdown=False)]


def _procs(directory: Path) -> Iterator[int]:
    for folder in _subtree(directory):
        with contextlib.suppress(OSError, ValueError):
            yield from (int(pid) for pid in (folder / "cgroup.procs").read_text().split())


def teardown(cgroup: str, timeout: float = 30.0) -> None:
    """Kill every process in the node's cgroup and remove it from every hierarchy (idempotent)."""
    roots = [h / cgroup for h in _hierarchies(unified=True) if (h / cgroup).is_dir()]
    deadline = time.monotonic() + timeout
    while True:
        pids = {pid for root in roots for pid in _procs(root)}
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise NodeError(f"processes {sorted(pids)} of cgroup {cgroup} did not die")
        time.sleep(0.1)
    for root in roots:
        for directory in _subtree(root):  # the root comes last
            _rmdir(directory)


def _rmdir(directory: Path) -> None:
    for _ in range(50):  # a killed task leaves its cgroup a moment after it is reaped
        try:
            directory.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)
    directory.rmdir()


class Node(Server):
    """Start with ``start()`` (waits until the Node is Ready), stop with ``stop()``."""

    def __init__(
        self, base_dir: Path, control_plane: ControlPlane, *, detach: bool = False, start_timeout: float = 120
    ) -> None:
        if not control_plane.node:
            raise NodeError("the control plane was started without node=True (devstack up --node)")
        self.base_dir = base_dir
        self.control_plane = control_plane
        self.detach = detach
        self.start_timeout = start_timeout
        self.cgroup = node_cgroup(base_dir)
        self.logs = base_dir / "logs"
        self.processes: list[ManagedProcess] = []
        self.holder: ManagedProcess | None = None

    @property
    def containerd_socket(self) -> Path:
        return self.base_dir / "containerd.sock"

    @property
    def apiserver_socket(self) -> Path:
        return self.base_dir / "apiserver.sock"

    # -- start -------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._check_prerequisites()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        archives = (pause_archive(), busybox_archive())
        try:
            self._make_cgroup()
            holder = self._start_namespaces()
            enter = ["nsenter", f"--target={holder}", "--net", "--mount", "--"]
            self._bridges(enter)
            self.containerd_socket.unlink(missing_ok=True)  # a stale one would look like a serving one
            containerd = self._spawn("containerd", [*enter, find_tool("containerd", prefer_cache=True),
                                                    "--config", self._containerd_config()])  # fmt: skip
            containerd.wait_until(self.containerd_socket.exists, 30, "serving its socket")
            self.import_images(archives)
            kubelet = self._spawn("kubelet", [*enter, *self._kubelet_argv()])
            kubelet.wait_until(self._ready, self.start_timeout, f"node {NODE_NAME} Ready")
            proxy = self._spawn("kube-proxy", [*enter, *self._kube_proxy_argv()])
            proxy.wait_until(self._services_routed, self.start_timeout, "routing kubernetes.default")
            dns = self._spawn("coredns", [*enter, *self._coredns_argv()])
            dns.wait_until(self._dns_ready, self.start_timeout, "serving cluster.local")
        except BaseException:
            self.stop()
            raise

    def _check_prerequisites(self) -> None:
        missing = [str(p) for p in (RUNC, CNI_BIN / "bridge", CNI_BIN / "host-local") if not p.exists()]
        missing += [
            tool for tool in ("socat", "unshare", "nsenter", "ip", "iptables") if not shutil.which(tool)
        ]
        if missing:
            raise NodeError(
                f"the node needs {', '.join(missing)}: scripts/bootstrap.sh node "
                f"(apt-get install {DEBIAN_PACKAGES})"
            )
        if os.geteuid() != 0:
            raise NodeError("the node needs root (namespaces, cgroups, mounts)")
        for tool in ("kubelet", "kube-proxy", "containerd", "containerd-shim-runc-v2", "ctr", "coredns"):
            find_tool(tool, prefer_cache=True)

    def _make_cgroup(self) -> None:
        teardown(self.cgroup)  # whatever an interrupted run left
        for hierarchy in _hierarchies():
            system = hierarchy / self.cgroup / "system"
            system.mkdir(parents=True, exist_ok=True)
            if (hierarchy / "cpuset.cpus").exists():  # a new cpuset group starts empty: inherit the parent's
                for directory in (hierarchy / self.cgroup, system):
                    for item in ("cpuset.cpus", "cpuset.mems"):
                        (directory / item).write_text((directory.parent / item).read_text())

    def _join(self, pid: int) -> None:
        for hierarchy in _hierarchies():
            with contextlib.suppress(OSError):  # the process may already have exited (it then failed)
                (hierarchy / self.cgroup / "system" / "cgroup.procs").write_text(str(pid))

    def _spawn(self, name: str, argv: Sequence[str | os.PathLike[str]], **env: str) -> ManagedProcess:
        path = f"{find_tool('containerd', prefer_cache=True).parent}:{os.environ.get('PATH', '')}"
        process = ManagedProcess(
            name, argv, self.logs / f"{name}.log", env={**os.environ, "PATH": path, **env}, detach=self.detach
        )
        self.processes.append(process)
        process.start()
        assert process.pid is not None
        self._join(process.pid)
        return process

    def _start_namespaces(self) -> int:
        masks = self.base_dir / "sysctl-masks"
        masks.mkdir(exist_ok=True)
        lines = ["set -eu"]
        for name, value in KUBELET_SYSCTLS.items():
            real = Path("/proc/sys") / name
            if not real.exists() or real.read_text().strip() == value:
                continue
            mask = masks / name.replace("/", ".")
            mask.write_text(value + "\n")
            lines.append(f"mount --bind {mask} {real}")
        ready = self.base_dir / "namespaces.ready"
        ready.unlink(missing_ok=True)
        lines += [
            "for d in /var/lib /var/log /run; do mount -t tmpfs -o mode=0755 tmpfs $d; done",
            "ip link set lo up",
            "ip link add node0 type veth peer name node0-sink",  # both ends stay in here
            f"ip addr add {NODE_IP}/{NODE_CIDR.split('/')[1]} dev node0",
            "ip link set node0 up",
            "ip link set node0-sink up",
            "ip route add default dev node0",  # so ClusterIPs route (kube-proxy); nothing leaves
            f"touch {ready}",
            "exec sleep infinity",
        ]
        script = self.base_dir / "namespaces.sh"
        script.write_text("\n".join(lines) + "\n")
        holder = self._spawn(
            "node-namespaces", ["unshare", "--net", "--mount", "--propagation", "private", "--", "sh", script]
        )
        self.holder = holder
        holder.wait_until(ready.exists, 20, "namespaces set up")
        assert holder.pid is not None
        return holder.pid

    def _bridges(self, enter: list[str]) -> None:
        port = self.control_plane.port
        self.apiserver_socket.unlink(missing_ok=True)
        self._spawn("apiserver-bridge-host", [
            "socat", f"UNIX-LISTEN:{self.apiserver_socket},fork,mode=600", f"TCP:127.0.0.1:{port}",
        ])  # fmt: skip
        self._spawn("apiserver-bridge-node", [
            *enter, "socat", f"TCP-LISTEN:{port},bind={NODE_IP},fork,reuseaddr",
            f"UNIX-CONNECT:{self.apiserver_socket}",
        ])  # fmt: skip
        egress = self.control_plane.egress_socket
        egress.unlink(missing_ok=True)
        proxy = self._spawn("node-egress-proxy", [
            *enter, sys.executable, "-m", "kubemaint_devstack.connect_proxy", egress,
            "--allow", NODE_CIDR, "--allow", POD_CIDR,
        ])  # fmt: skip
        proxy.wait_until(egress.exists, 20, "serving the API server's egress socket")

    def _containerd_config(self) -> Path:
        root = self.base_dir / "containerd"
        cni = self.base_dir / "cni"
        (cni / "net.d").mkdir(parents=True, exist_ok=True)
        (cni / "net.d" / "10-kubemaint.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0",
            "name": "kubemaint",
            "plugins": [
                {"type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": True, "hairpinMode": True,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_CIDR}]],
                          "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(cni / "ipam")}},
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }, indent=2))  # fmt: skip
        config = self.base_dir / "containerd.toml"
        config.write_text(f'''version = 3
root = "{root / "root"}"
state = "{root / "state"}"

[grpc]
  address = "{self.containerd_socket}"

[ttrpc]
  address = "{self.containerd_socket}.ttrpc"

[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = "{PAUSE}"

[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true

[plugins."io.containerd.cri.v1.runtime".cni]
  bin_dirs = ["{CNI_BIN}"]
  conf_dir = "{cni / "net.d"}"

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
  BinaryName = "{RUNC}"
''')
        return config

    def _kubeconfig(self, component: str, user: str, certificate: str) -> Path:
        """A kubeconfig for a component inside the node: the API server through the node's side of the
        unix-socket bridge, with the client certificate ``certificate`` of the control plane's PKI."""
        pki = self.control_plane.pki
        return write_kubeconfig(
            self.base_dir / f"{component}.kubeconfig", server=f"https://{NODE_IP}:{self.control_plane.port}",
            ca_file=pki.ca_file, user=user, client_cert=pki.crt(certificate), client_key=pki.key(certificate),
        )  # fmt: skip

    def _kubelet_argv(self) -> list[str]:
        pki = self.control_plane.pki
        kubeconfig = self._kubeconfig("kubelet", f"system:node:{NODE_NAME}", "node")
        resolv = self.base_dir / "resolv.conf"
        resolv.write_text("")  # no upstream: pods resolve cluster names only
        config = self.base_dir / "kubelet.yaml"
        config.write_text(json.dumps({
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": "0.0.0.0",  # inside the node's namespace
            "readOnlyPort": 0,
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                               "x509": {"clientCAFile": str(pki.ca_file)}},
            "authorization": {"mode": "Webhook"},
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{self.cgroup}",
            "failCgroupV1": False,
            "failSwapOn": False,
            "oomScoreAdj": 0,
            "clusterDNS": [NODE_IP],
            "clusterDomain": CLUSTER_DOMAIN,
            "resolvConf": str(resolv),
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            # A shared dev machine's disk is often fuller than a node's defaults (10-15 % free) allow.
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%",
                             "imagefs.available": "1%"},
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            "serializeImagePulls": False,
        }, indent=2))  # fmt: skip
        return [
            str(find_tool("kubelet", prefer_cache=True)),
            f"--config={config}",
            f"--kubeconfig={kubeconfig}",
            f"--root-dir={self.base_dir / 'kubelet'}",
            f"--cert-dir={self.base_dir / 'kubelet' / 'pki'}",
            f"--node-ip={NODE_IP}",
            f"--hostname-override={NODE_NAME}",
        ]

    def _kube_proxy_argv(self) -> list[str]:
        kubeconfig = self._kubeconfig("kube-proxy", "system:kube-proxy", "kube-proxy")
        config = self.base_dir / "kube-proxy.yaml"
        config.write_text(json.dumps({
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(kubeconfig)},
            "mode": "iptables",
            "clusterCIDR": POD_CIDR,
            "hostnameOverride": NODE_NAME,
            "bindAddress": NODE_IP,
            "healthzBindAddress": f"{NODE_IP}:10256",
            "metricsBindAddress": f"{NODE_IP}:10249",
            # Zero: leave the conntrack table's global limits and timeouts alone (kube-proxy would set
            # nf_conntrack_max and friends); false: no route_localnet, nothing listens on loopback.
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s",
                          "tcpCloseWaitTimeout": "0s", "udpTimeout": "0s", "udpStreamTimeout": "0s"},
            "iptables": {"localhostNodePorts": False},
        }, indent=2))  # fmt: skip
        return [str(find_tool("kube-proxy", prefer_cache=True)), f"--config={config}"]

    def _coredns_argv(self) -> list[str]:
        """CoreDNS for ``cluster.local`` only, on the node's address (the kubelet's ``clusterDNS``); there is
        no upstream to forward other names to, so every other name does not exist (NXDOMAIN, which lets
        resolvers go on to the next search domain, where REFUSED would stop some)."""
        kubeconfig = self._kubeconfig("coredns", "kubemaint:coredns", "coredns")
        rules = [
            {"apiGroups": [""], "resources": ["services", "namespaces", "pods"], "verbs": ["list", "watch"]},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
        ]
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "kubemaint:coredns"}, "rules": rules}  # fmt: skip
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "kubemaint:coredns"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "kubemaint:coredns"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                          "name": "kubemaint:coredns"}],
        }  # fmt: skip
        self.control_plane.kubectl(
            "apply",
            "-f",
            "-",
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [role, binding]}),
        )
        corefile = self.base_dir / "Corefile"
        corefile.write_text(f"""{CLUSTER_DOMAIN}:53 in-addr.arpa:53 {{
    bind {NODE_IP}
    errors
    ready {NODE_IP}:8181
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa {{
        kubeconfig {kubeconfig}
        pods insecure
    }}
    cache 5
}}
.:53 {{
    bind {NODE_IP}
    template ANY ANY {{
        rcode NXDOMAIN
    }}
}}
""")
        return [str(find_tool("coredns", prefer_cache=True)), "-conf", str(corefile)]

    def _dns_ready(self) -> bool:
        answer = self.in_node("curl", "-fsS", "-m", "2", f"http://{NODE_IP}:8181/ready")
        return answer.returncode == 0

    def _services_routed(self) -> bool:
        """kube-proxy has written the rules for the ``kubernetes`` Service (its ClusterIP answers)."""
        if self.holder is None or self.holder.pid is None:
            return False
        rules = self.in_node("iptables-save", "-t", "nat").stdout
        return "default/kubernetes:https" in rules

    def _ready(self) -> bool:
        try:
            node = self.control_plane.api_get(f"/api/v1/nodes/{NODE_NAME}")
        except (OSError, urllib.error.HTTPError):
            return False
        conditions = node.get("status", {}).get("conditions", [])
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    # -- use ---------------------------------------------------------------------------------------------

    def ctr(self, *args: str) -> str:
        """``ctr`` against the node's containerd, in the ``k8s.io`` namespace the kubelet uses."""
        return ctr(self.containerd_socket, *args)

    def import_images(self, archives: Sequence[Path]) -> None:
        """Import OCI archives into the node's containerd (where the kubelet finds them, no registry)."""
        for archive in archives:
            self.ctr("images", "import", str(archive))

    def in_node(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a command inside the node's network namespace (as a pod's neighbour would)."""
        if self.holder is None or self.holder.pid is None:
            raise NodeError("the node is not running")
        return subprocess.run(
            ["nsenter", f"--target={self.holder.pid}", "--net", "--", *argv],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def records(self) -> list[dict[str, Any]]:
        """The processes for ``devstack``'s state file: name, pid and the program that ends up running
        (``nsenter`` and ``unshare`` exec what follows ``--``; the namespaces' holder sleeps)."""
        found = []
        for process in self.processes:
            argv = process.argv
            exe = argv[argv.index("--") + 1] if "--" in argv else argv[0]
            if process is self.holder:
                exe = "sleep"
            found.append(
                {"name": process.name, "pid": process.pid, "exe": exe, "signal": int(signal.SIGTERM)}
            )
        return found

    # -- stop --------------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Kill everything in the node's cgroup (pods, shims, kubelet, containerd, bridges, namespaces),
        then remove the cgroup; the namespaces and their mounts go with their last process."""
        teardown(self.cgroup)
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        self.holder = None
