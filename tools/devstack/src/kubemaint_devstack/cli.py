"""``devstack``: start PostgreSQL, etcd and (optionally) the control plane detached, and stop them again.

    devstack up [--control-plane | --node] [--no-postgres] [--dir .run/devstack]
    devstack env      # export lines: DB_*, ETCD_ENDPOINTS, KUBECONFIG
    devstack status   # exit 1 if anything listed is not running
    devstack images   # build the project's images (when their inputs changed) into the running node
    devstack tilt-image --target T [--build-arg K=V]   # Tilt's custom_build: $EXPECTED_REF into the node
    devstack down [--control-plane] [--purge]

The state (pids, ports, credentials) is in <dir>/state.json. ``up`` starts only what is not running, so
it is idempotent and can add the control plane to a running stack.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from .controlplane import ControlPlane
from .etcd import EtcdServer
from .node import Node, NodeError, ctr, node_cgroup, teardown
from .postgres import PostgresServer, reachable_data_dir
from .process import ManagedProcess, pid_alive, stop_pid
from .tools import repo_root

log = logging.getLogger("devstack")
State = dict[str, dict[str, Any]]


def _record(proc: ManagedProcess) -> dict[str, Any]:
    return {"name": proc.name, "pid": proc.pid, "exe": proc.argv[0], "signal": int(proc.stop_signal)}


def _is_ours(rec: dict[str, Any]) -> bool:
    """The pid is alive and still runs the binary we started (not a recycled pid)."""
    pid = int(rec["pid"])
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return pid_alive(pid) and str(rec["exe"]).encode() in cmdline


def _alive(component: dict[str, Any] | None) -> bool:
    if not component or not component.get("processes"):
        return False
    return all(_is_ours(r) for r in component["processes"])


def _load(base: Path) -> State:
    try:
        state: State = json.loads((base / "state.json").read_text())
    except (OSError, ValueError):
        return {}
    return state


def _save(base: Path, state: State) -> None:
    path = base / "state.json"
    path.write_text(json.dumps(state, indent=2) + "\n")
    path.chmod(0o600)  # it holds the database password


def _up(base: Path, args: argparse.Namespace) -> int:
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o711)  # the unprivileged PostgreSQL user must traverse it when we are root
    state = _load(base)
    started: list[ManagedProcess] = []
    try:
        if not args.no_postgres and not _alive(state.get("postgres")):
            old = state.get("postgres", {})
            data_dir = Path(old.get("data_dir") or reachable_data_dir(base / "postgres"))
            pg = PostgresServer(
                data_dir, old.get("port"), log_path=base / "logs" / "postgres.log", detach=True
            )
            started.append(pg.process)  # before start(): an interrupted start is cleaned up too
            pg.start()
            state["postgres"] = {
                "processes": [_record(pg.process)], "data_dir": str(data_dir), "host": pg.host,
                "port": pg.port, "user": pg.user, "password": pg.password, "database": pg.database,
                "dsn": pg.dsn,
            }  # fmt: skip
            _save(base, state)
        if not _alive(state.get("etcd")):
            old = state.get("etcd", {})
            etcd = EtcdServer(
                base / "etcd", old.get("port"), "app", peer_port=old.get("peer_port"),
                log_path=base / "logs" / "etcd.log", detach=True,
            )  # fmt: skip
            started.append(etcd.process)
            etcd.start()
            state["etcd"] = {
                "processes": [_record(etcd.process)], "port": etcd.port, "peer_port": etcd.peer_port,
                "endpoint": etcd.endpoint,
            }  # fmt: skip
            _save(base, state)
        running = state.get("controlplane", {})
        if args.node and _alive(running) and not running.get("node"):
            raise NodeError(
                "the control plane runs without node support: devstack down --control-plane first"
            )
        cp = None
        if (args.control_plane or args.node) and not _alive(running):
            cp = ControlPlane(
                base / "controlplane", port=running.get("port"), etcd_port=running.get("etcd_port"),
                detach=True, node=args.node,
            )  # fmt: skip
            started += cp.processes
            cp.start()
            state["controlplane"] = {
                "processes": [_record(p) for p in cp.processes], "port": cp.port, "etcd_port": cp.etcd.port,
                "server": cp.server, "kubeconfig": str(cp.kubeconfig), "etcd_endpoint": cp.etcd.endpoint,
                "node": args.node,
            }  # fmt: skip
            _save(base, state)
        if args.node and not _alive(state.get("node")):
            if cp is None:  # running already: the same settings, nothing started
                cp = ControlPlane(base / "controlplane", port=running["port"], etcd_port=running["etcd_port"],
                                  detach=True, node=True)  # fmt: skip
            node = Node(base / "node", cp, detach=True)
            state["node"] = {"processes": [], "cgroup": node.cgroup}
            _save(base, state)  # before start(): `down` can clean up an interrupted start
            node.start()
            state["node"]["processes"] = node.records()
            _save(base, state)
    except BaseException as exc:  # Ctrl-C included: never leave a half-started stack behind
        if "node" in state:
            teardown(state["node"]["cgroup"])
        for proc in reversed(started):
            proc.stop()
        for name in ("node", "postgres", "etcd", "controlplane"):
            if name in state and not _alive(state[name]):
                state[name]["processes"] = []
        _save(base, state)
        print(f"devstack up failed: {exc or type(exc).__name__}", file=sys.stderr)
        return 1
    _status(state, sys.stderr)
    print(f'state: {base / "state.json"}; environment: eval "$(devstack env)"', file=sys.stderr)
    return 0


def _down(base: Path, args: argparse.Namespace) -> int:
    state = _load(base)
    names = ["node", "controlplane"] if args.control_plane else ["node", "controlplane", "etcd", "postgres"]
    if node := state.get("node"):
        log.info("stopping the node (cgroup %s)", node["cgroup"])
        teardown(node.get("cgroup") or node_cgroup(base / "node"))
    for name in names:
        for rec in reversed(state.get(name, {}).get("processes", [])):
            if _is_ours(rec):
                log.info("stopping %s (pid %s)", rec["name"], rec["pid"])
                stop_pid(int(rec["pid"]), int(rec["signal"]))
        if name in state:
            state[name]["processes"] = []  # ports kept: the next `up` reuses them and the data
    if args.purge and not any(_alive(c) for c in state.values()):
        data_dir = state.get("postgres", {}).get("data_dir")
        if data_dir and not Path(data_dir).is_relative_to(base):
            shutil.rmtree(Path(data_dir).parent, ignore_errors=True)  # the fallback outside ``base``
        shutil.rmtree(base, ignore_errors=True)
    elif state:
        _save(base, state)
    return 0


def _env(state: State) -> int:
    state = {name: c for name, c in state.items() if _alive(c)}
    if not state:
        print("devstack is not up: run `devstack up`", file=sys.stderr)
        return 1
    values: dict[str, str] = {}
    if pg := state.get("postgres"):
        values.update(
            DB_HOST=pg["host"], DB_PORT=str(pg["port"]), DB_USER=pg["user"],
            DB_PASSWORD=pg["password"], DB_NAME=pg["database"],
        )  # fmt: skip
    if etcd := state.get("etcd"):
        values["ETCD_ENDPOINTS"] = etcd["endpoint"]
    if cp := state.get("controlplane"):
        values["KUBECONFIG"] = cp["kubeconfig"]
    for key, value in values.items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def _node_containerd(base: Path, args: argparse.Namespace) -> Path | None:
    """The node's containerd socket (``--containerd``, else the one in ``--dir``) if it serves."""
    socket = args.containerd or base / "node" / "containerd.sock"
    if socket.is_socket():
        return Path(socket)
    print(f"devstack: no node's containerd at {socket}: run `make node-up` first", file=sys.stderr)
    return None


def _images(base: Path, args: argparse.Namespace) -> int:
    """Build the users service, operator, postgres and etcd images with buildah (cached by their inputs),
    import them into the node's containerd (``charts/kubemaint-stack/ci/node-values.yaml`` names them), and
    print the helm arguments that pick this build's content tags."""
    from .app_images import build_app_images, import_app_images

    socket = _node_containerd(base, args)
    if socket is None:
        return 1
    helm_args = import_app_images(socket, build_app_images(log=log.info))
    log.info("imported into %s", socket)
    print(shlex.join(helm_args))
    return 0


def qualified(ref: str) -> str:
    """The name the kubelet asks containerd for: ``kubemaint/x:t`` is ``docker.io/kubemaint/x:t``."""
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return ref
    return f"docker.io/{ref}" if rest else f"docker.io/library/{ref}"


def _tilt_image(base: Path, args: argparse.Namespace) -> int:
    """Tilt's ``custom_build`` on the local node: build ``$EXPECTED_REF`` (a target of the root Dockerfile)
    with buildah and import it into the node's containerd, where the kubelet finds it (the Tiltfile's pods
    use ``IfNotPresent``)."""
    from .app_images import build_image, forget_image, prune_storage

    ref = os.environ.get("EXPECTED_REF")
    if not ref:
        print(
            "devstack tilt-image: EXPECTED_REF is not set (Tilt sets it for a custom_build)", file=sys.stderr
        )
        return 2
    socket = _node_containerd(base, args)
    if socket is None:
        return 1
    build_args = dict(item.partition("=")[::2] for item in args.build_arg)
    root = repo_root()
    with tempfile.TemporaryDirectory(prefix="tilt-image-") as tmp:
        archive = build_image(root / "Dockerfile", root, qualified(ref), Path(tmp) / "image.oci.tar",
                              build_args, target=args.target)  # fmt: skip
        ctr(socket, "images", "import", str(archive))
    forget_image(qualified(ref))  # containerd has it now; the layers stay as the next build's cache
    prune_storage()
    log.info("built and imported %s", qualified(ref))
    return 0


def _status(state: State, out: Any = sys.stdout) -> int:
    healthy = True
    if not state:
        print("devstack: nothing is up", file=out)
        return 1
    for name, component in state.items():
        if not component["processes"]:
            print(f"{name:<13} stopped", file=out)
            healthy = False
            continue
        alive = _alive(component)
        healthy &= alive
        where = component.get("dsn") or component.get("endpoint") or component.get("server", "")
        if name == "postgres":
            where = f"postgresql://{component['user']}@{component['host']}:{component['port']}/{component['database']}"
        pids = ",".join(str(r["pid"]) for r in component["processes"])
        print(f"{name:<13} {'running' if alive else 'DOWN':<8} pid {pids:<20} {where}", file=out)
    return 0 if healthy else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="devstack", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--dir", type=Path, default=None, help="state folder (default <repo>/.run/devstack)")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start what is not running (detached)")
    up.add_argument(
        "--control-plane", action="store_true", help="also etcd + kube-apiserver + controller-manager"
    )
    up.add_argument(
        "--node", action="store_true",
        help="a control plane for a node, and the node: kubelet + containerd in namespaces of their own",
    )  # fmt: skip
    up.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    down = sub.add_parser("down", help="stop what the state file lists")
    down.add_argument("--control-plane", action="store_true", help="stop only the control plane (and node)")
    down.add_argument("--purge", action="store_true", help="also delete the data (when everything is down)")
    sub.add_parser("env", help="print export lines for DB_*, ETCD_ENDPOINTS, KUBECONFIG")
    sub.add_parser("status", help="show what runs; exit 1 if something listed is down")
    images = sub.add_parser("images", help="build the project's images and import them into the running node")
    tilt = sub.add_parser("tilt-image", help="Tilt's custom_build: build $EXPECTED_REF into the running node")
    tilt.add_argument("--target", required=True, help="the root Dockerfile's stage to build (Tilt's: dev)")
    tilt.add_argument("--build-arg", action="append", default=[], metavar="KEY=VALUE")
    for command in (images, tilt):
        command.add_argument("--containerd", type=Path, help="the node's containerd socket (default: --dir)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="devstack: %(message)s")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop cleanly like Ctrl-C
    base: Path = (args.dir or repo_root() / ".run" / "devstack").resolve()
    if args.command == "up":
        return _up(base, args)
    if args.command == "down":
        return _down(base, args)
    if args.command == "env":
        return _env(_load(base))
    if args.command == "images":
        return _images(base, args)
    if args.command == "tilt-image":
        return _tilt_image(base, args)
    return _status(_load(base))


if __name__ == "__main__":
    sys.exit(main())
