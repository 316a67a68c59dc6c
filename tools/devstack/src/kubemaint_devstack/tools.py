"""Find the binaries the dev stack runs: PATH, the project's cache folder, PostgreSQL's versioned dirs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import MappingProxyType

#: The command that installs each tool, shown when it is missing.
INSTALL_HINTS = MappingProxyType(
    {
        "etcd": "scripts/build-tools.sh etcd",
        "etcdctl": "scripts/build-tools.sh etcd",
        "helm": "scripts/build-tools.sh helm",
        "kube-apiserver": "scripts/build-tools.sh k8s",
        "kube-controller-manager": "scripts/build-tools.sh k8s",
        "kubectl": "scripts/build-tools.sh k8s",
        "tilt": "scripts/build-tools.sh tilt",
        "initdb": "apt-get install -y postgresql",
        "pg_ctl": "apt-get install -y postgresql",
        "postgres": "apt-get install -y postgresql",
        "psql": "apt-get install -y postgresql-client",
    }
)

_POSTGRES_TOOLS = frozenset({"initdb", "pg_ctl", "postgres", "psql", "pg_isready"})
_POSTGRES_ROOT = Path("/usr/lib/postgresql")


class MissingToolError(RuntimeError):
    """A binary is missing; the message is the command that installs it."""

    def __init__(self, name: str) -> None:
        self.tool = name
        super().__init__(INSTALL_HINTS.get(name, f"install {name!r} and put it on PATH"))


def repo_root() -> Path:
    """The repository root: $KUBEMAINT_ROOT, else the nearest parent holding scripts/build-tools.sh."""
    env = os.environ.get("KUBEMAINT_ROOT")
    if env:
        return Path(env).resolve()
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for candidate in start.parents if start.is_file() else (start, *start.parents):
            if (candidate / "scripts" / "build-tools.sh").is_file():
                return candidate
    return Path.cwd().resolve()


def cache_dir() -> Path:
    """The project's tool cache, as ``scripts/cache-dir.sh`` defines it.

    ``$KUBEMAINT_CACHE``, else ``${XDG_CACHE_HOME:-~/.cache}/kubemaint``: outside the clone, so every
    clone on a machine (CI's included) reuses one build of the Go tools.
    """
    env = os.environ.get("KUBEMAINT_CACHE")
    if env:
        return Path(env).resolve()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache").resolve() / "kubemaint"


def _postgres_dirs() -> list[Path]:
    def version(p: Path) -> float:
        try:
            return float(p.name)
        except ValueError:
            return 0.0

    if not _POSTGRES_ROOT.is_dir():
        return []
    return [d / "bin" for d in sorted(_POSTGRES_ROOT.iterdir(), key=version, reverse=True)]


def find_tool(name: str, *, prefer_cache: bool = False) -> Path:
    """Locate ``name``: PATH first, then <cache>/bin (reversed with ``prefer_cache``), then PostgreSQL dirs.

    ``prefer_cache`` is for the binaries the project pins and builds (Kubernetes, etcd), where an
    unrelated copy on PATH (for example a cloud SDK's kubectl) must not win.
    """
    cached = cache_dir() / "bin" / name
    from_cache = cached if cached.is_file() and os.access(cached, os.X_OK) else None
    on_path = shutil.which(name)
    from_path = Path(on_path) if on_path else None
    order = (from_cache, from_path) if prefer_cache else (from_path, from_cache)
    for found in order:
        if found is not None:
            return found
    if name in _POSTGRES_TOOLS:
        for directory in _postgres_dirs():
            candidate = directory / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
    raise MissingToolError(name)
