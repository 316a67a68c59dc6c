"""The project's own images (users service, operator) built for the local node, where no registry is
reachable: the root Dockerfile's targets unchanged, with buildah, from local base images.

- **Python base**: ``debootstrap --variant=minbase`` of Debian bookworm with ``python3`` (3.11, as the
  official ``python:3.11-slim-bookworm``), trimmed of documentation and locales. It carries this
  machine's CA bundle (``SSL_CERT_FILE``): package downloads here pass TLS inspection, and uv in the build
  stage must trust it. It is a local build base, never pushed anywhere.
- **uv**: the ``uv`` binary from the uv wheel on PyPI, at the version the Dockerfile names, as the only
  file of an image (what ``ghcr.io/astral-sh/uv`` is).
- **Build**: ``buildah bud --pull-never`` with ``PYTHON_IMAGE`` and ``UV_IMAGE`` pointing at those, chroot
  isolation on the host's network (no CNI set-up, so no link on the host), buildah's storage and temp
  folder under the tool cache, and a private mount namespace with a fresh ``/var/lib`` for its blob
  cache, so nothing lands in ``/var/lib/containers`` or ``/var/tmp``.
- **Hand-over**: ``buildah push`` to an OCI archive, which the node's containerd imports.

Every output is cached by the hash of its inputs (the Dockerfile and its .dockerignore, the lock, the
sources the image is made of), so a second run with nothing changed takes seconds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .images import FORMAT, Image, write_oci_archive
from .tools import cache_dir, repo_root

__all__ = ["APP_IMAGES", "ETCD", "AppImage", "build_app_images", "etcd_image", "python_base", "uv_image"]

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PYTHON_BASE = "localhost/kubemaint/python:3.11-bookworm"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
_TRIM = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/cache/apt",
         "var/lib/apt/lists")  # fmt: skip


@dataclass(frozen=True)
class AppImage:
    """An image built with buildah: its Dockerfile, the paths its content comes from, build context and
    target (None: the Dockerfile's last stage)."""

    name: str
    dockerfile: str
    inputs: tuple[str, ...]
    context: str = "."
    target: str | None = None

    @property
    def ref(self) -> str:
        return f"localhost/kubemaint/{self.name}:dev"


# The workspace metadata (every pyproject and the lock) and the library go into both images' build.
_COMMON = ("pyproject.toml", "uv.lock", "kubemaint", "service/pyproject.toml", "operator/pyproject.toml",
           "tools/devstack/pyproject.toml")  # fmt: skip
APP_IMAGES = (
    AppImage("users-service", "Dockerfile", (*_COMMON, "service"), target="users-service"),
    AppImage("kubemaint-operator", "Dockerfile", (*_COMMON, "operator"), target="kubemaint-operator"),
    # Test stand-ins for the dev stores' upstream images (charts/postgres, charts/etcd), never shipped.
    AppImage(
        "postgres", "tools/node/postgres/Containerfile", ("tools/node/postgres",), "tools/node/postgres"
    ),
)
ETCD = "localhost/kubemaint/etcd:dev"


def _images_dir() -> Path:
    folder = cache_dir() / "images"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _run(*argv: str | os.PathLike[str], env: dict[str, str] | None = None, timeout: float = 1800) -> None:
    result = subprocess.run(
        [os.fspath(a) for a in argv], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).splitlines()[-25:])
        raise RuntimeError(f"{' '.join(os.fspath(a) for a in argv[:3])} ... failed:\n{tail}")


def python_base() -> Path:
    """The Python base as an OCI archive (debootstrap on first use, about a minute and a half)."""
    stamp = hashlib.sha256(FORMAT + f"{SUITE} python3".encode() + CA_BUNDLE.read_bytes()).hexdigest()[:12]
    out = _images_dir() / f"python-base-{stamp}.oci.tar"
    if out.is_file():
        return out
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise RuntimeError("the Python base image needs debootstrap: scripts/bootstrap.sh node")
    with tempfile.TemporaryDirectory(dir=_images_dir()) as tmp:
        root = Path(tmp) / "root"
        _run(debootstrap, "--variant=minbase", "--include=python3", SUITE, root, MIRROR)
        for part in _TRIM:
            shutil.rmtree(root / part, ignore_errors=True)
        (root / CA_BUNDLE.relative_to("/")).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(CA_BUNDLE, root / CA_BUNDLE.relative_to("/"))
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "LANG": "C.UTF-8", "SSL_CERT_FILE": str(CA_BUNDLE)}  # fmt: skip
        return write_oci_archive(root, Image(PYTHON_BASE, cmd=["python3"], env=env), out)


def uv_image() -> tuple[str, Path]:
    """The uv image the Dockerfile names (``FROM ${UV_IMAGE}``), from the uv wheel on PyPI."""
    version = _uv_version()
    ref = f"localhost/kubemaint/uv:{version}"
    out = _images_dir() / f"uv-{version}-{FORMAT.decode()}.oci.tar"
    if out.is_file():
        return ref, out
    uv = shutil.which("uv") or shutil.which("uv", path=str(Path.home() / ".local" / "bin"))
    if uv is None:
        raise RuntimeError("the uv image is made with uv itself: scripts/bootstrap.sh installs it")
    with tempfile.TemporaryDirectory(dir=_images_dir()) as tmp:
        unpacked = Path(tmp) / "wheel"
        # The uv wheel from PyPI for Linux x86_64: its bin/uv is the binary the uv image holds.
        _run(uv, "pip", "install", "--quiet", "--no-deps", "--target", unpacked, f"uv=={version}",
             "--python-platform", "x86_64-manylinux_2_17", "--python", sys.executable)  # fmt: skip
        root = Path(tmp) / "root"
        root.mkdir()
        shutil.copy2(unpacked / "bin" / "uv", root / "uv")
        (root / "uv").chmod(0o755)
        return ref, write_oci_archive(root, Image(ref, cmd=["/uv"], env={}), out)


def etcd_image() -> Path:
    """A TEST STAND-IN for the etcd project's image (charts/etcd): the project's own etcd and etcdctl build
    (static, from tools/etcd) at /usr/local/bin, no shell, as the distroless upstream image."""
    binaries = [cache_dir() / "bin" / name for name in ("etcd", "etcdctl")]
    digest = hashlib.sha256(FORMAT + b"".join(hashlib.sha256(b.read_bytes()).digest() for b in binaries))
    out = _images_dir() / f"etcd-{digest.hexdigest()[:16]}.oci.tar"
    if out.is_file():
        return out
    with tempfile.TemporaryDirectory(dir=_images_dir()) as tmp:
        root = Path(tmp) / "root"
        (root / "usr" / "local" / "bin").mkdir(parents=True)
        (root / "tmp").mkdir(mode=0o1777)
        (root / "tmp").chmod(0o1777)
        for binary in binaries:
            shutil.copy2(binary, root / "usr" / "local" / "bin" / binary.name)
        image = Image(ETCD, cmd=["/usr/local/bin/etcd"], env={"PATH": "/usr/local/bin"})
        return write_oci_archive(root, image, out)


def _uv_version() -> str:
    for line in (repo_root() / "Dockerfile").read_text().splitlines():
        if line.startswith("ARG UV_IMAGE="):
            return line.rsplit(":", 1)[1]
    raise RuntimeError("the Dockerfile names no UV_IMAGE")


def _inputs_digest(image: AppImage, bases: str) -> str:
    digest = hashlib.sha256(bases.encode())
    root = repo_root()
    for item in sorted({image.dockerfile, f"{image.context}/.dockerignore", *image.inputs}):
        path = root / item
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if "__pycache__" in file.parts or not file.exists():
                continue
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def _buildah(storage: Path, *args: str | os.PathLike[str], timeout: float = 1800) -> None:
    tmp = storage / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp), "BUILDAH_ISOLATION": "chroot"}
    # A private mount namespace with a fresh /var/lib: buildah keeps a blob cache in
    # /var/lib/containers/cache whatever --root says, and the host must not get one.
    _run("unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
         'mount -t tmpfs -o mode=0755 tmpfs /var/lib && exec "$@"', "buildah",
         "buildah", "--root", storage / "root", "--runroot", storage / "run", "--storage-driver", "vfs",
         *args, env=env, timeout=timeout)  # fmt: skip


_PULLED: set[Path] = set()
"""The base archives this process has put into buildah's storage already."""


def build_image(
    dockerfile: Path,
    context: Path,
    ref: str,
    out: Path,
    build_args: dict[str, str] | None = None,
    target: str | None = None,
) -> Path:
    """Build one Dockerfile (its stage ``target``, else its last) with buildah from the local bases
    (``PYTHON_IMAGE``, ``UV_IMAGE`` and ``BASE_IMAGE`` point at them; no registry is involved) into the OCI
    archive ``out``, named ``ref``."""
    if shutil.which("buildah") is None:
        raise RuntimeError("the project's images need buildah: scripts/bootstrap.sh node")
    base = python_base()
    uv_ref, uv_archive = uv_image()
    storage = _images_dir() / "buildah"
    for archive in (base, uv_archive):  # the local archives into buildah's own storage, once per process
        if archive not in _PULLED:
            _buildah(storage, "pull", "--quiet", f"oci-archive:{archive}")
            _PULLED.add(archive)
    args = {"PYTHON_IMAGE": PYTHON_BASE, "UV_IMAGE": uv_ref, "BASE_IMAGE": PYTHON_BASE, **(build_args or {})}
    _buildah(storage, "bud", "--pull-never", "--network", "host", "--layers",
             *(f"--build-arg={key}={value}" for key, value in args.items()),
             *(("--target", target) if target else ()), "-f", dockerfile, "-t", ref, context)  # fmt: skip
    partial = out.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    _buildah(storage, "push", "--quiet", ref, f"oci-archive:{partial}:{ref}")
    partial.replace(out)
    return out


def build_app_images(log: object = print) -> dict[str, Path]:
    """Build the users service and operator images (when their inputs changed); ref -> OCI archive."""
    say = log if callable(log) else print
    bases = f"{python_base().name} {uv_image()[1].name}"
    built: dict[str, Path] = {}
    rebuilt = False
    for image in APP_IMAGES:
        out = _images_dir() / f"{image.name}-{_inputs_digest(image, bases)}.oci.tar"
        if not out.is_file():
            source = f"{image.dockerfile}, target {image.target}" if image.target else image.dockerfile
            say(f"building {image.ref} with buildah (from {source})")
            build_image(repo_root() / image.dockerfile, repo_root() / image.context, image.ref, out,
                        target=image.target)  # fmt: skip
            rebuilt = True
            for older in _images_dir().glob(f"{image.name}-*.oci.tar"):  # superseded builds of this image
                if older != out and older.name.removeprefix(f"{image.name}-").count("-") == 0:
                    older.unlink()
        built[image.ref] = out
    if rebuilt:
        prune_storage()
    built[ETCD] = etcd_image()
    return built


PRUNE_ABOVE = 6 << 30
"""Bytes of buildah storage above which a build prunes it: room for the layer caches of a few builds."""


def storage_bytes(storage: Path) -> int:
    """Bytes on disk under ``storage`` (``du``: the vfs tree holds millions of small files)."""
    out = subprocess.run(["du", "-sk", str(storage)], capture_output=True, text=True, check=False).stdout
    return int(out.split()[0]) * 1024 if out else 0


def prune_storage(above: int = PRUNE_ABOVE) -> None:
    """Drop buildah's dangling images (superseded builds, tags moved on, a Tilt build's untagged image and
    their layer caches) when the storage holds more than ``above`` bytes.

    The vfs driver stores every layer as a full copy of its tree, so without this the storage grows by
    gigabytes with each rebuild (it once filled the disk). The named images stay: the bases and the last
    build of each target, whose layers are the cache of the next build.
    """
    storage = _images_dir() / "buildah"
    if storage.is_dir() and storage_bytes(storage) > above:
        _buildah(storage, "rmi", "--prune", "--force")


def forget_image(ref: str) -> None:
    """Untag ``ref`` in buildah's storage once it is handed over (a Tilt build: a new tag every time)."""
    _buildah(_images_dir() / "buildah", "rmi", ref)


# The chart of the umbrella chart (charts/kubemaint-stack) that runs each image.
CHARTS = {
    "localhost/kubemaint/users-service": "users-service",
    "localhost/kubemaint/kubemaint-operator": "kubemaint-operator",
    "localhost/kubemaint/postgres": "postgres",
    "localhost/kubemaint/etcd": "etcd",
}


def content_ref(ref: str, archive: Path) -> str:
    """``ref`` with its tag replaced by the archive's input digest (``...:dev`` -> ``...:1f0c9e...``)."""
    return f"{ref.rpartition(':')[0]}:{archive.name.removesuffix('.oci.tar').rpartition('-')[2]}"


def import_app_images(containerd_socket: Path, archives: dict[str, Path]) -> list[str]:
    """Import the images into a node's containerd under their ``:dev`` name and under a content tag, and
    return the helm arguments that select the content tags (``--set users-service.image.tag=...``).

    ``:dev`` alone would name different contents over time: a Deployment whose values did not change would
    never roll, and its pods would go on running (or restart with) the image of an earlier build.
    """
    from .node import ctr

    args: list[str] = []
    present = set(ctr(containerd_socket, "images", "list", "--quiet").split())
    for ref, archive in archives.items():
        tagged = content_ref(ref, archive)
        if tagged in present:  # this very build is there already: point :dev at it again
            ctr(containerd_socket, "images", "tag", "--force", tagged, ref)
        else:
            ctr(containerd_socket, "images", "import", str(archive))
            ctr(containerd_socket, "images", "tag", "--force", ref, tagged)
        if (chart := CHARTS.get(ref.rpartition(":")[0])) is not None:
            args += ["--set", f"{chart}.image.tag={tagged.rpartition(':')[2]}"]
    return args
