"""Container images for the local node, made without a registry or a container engine.

An image is written as an OCI image-layout archive (``oci-layout``, ``index.json``, ``blobs/``) from a
root folder, then imported into the node's containerd with ``ctr images import``. Two small images are
built here: ``pause`` (the pod sandbox, from ``tools/node/pause.c``, static) and ``busybox`` (Debian's
static busybox, for tests and probes). Archives are cached under ``<cache>/images``, named by the hash
of what they are made of, so they are rebuilt only when an input changes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .tools import cache_dir, repo_root

__all__ = ["BUSYBOX", "FORMAT", "PAUSE", "Image", "busybox_archive", "pause_archive", "write_oci_archive"]

PAUSE = "localhost/kubemaint/pause:dev"
BUSYBOX = "localhost/kubemaint/busybox:dev"
BUSYBOX_APPLETS = (
    "sh",
    "sleep",
    "cat",
    "echo",
    "ls",
    "id",
    "ps",
    "wget",
    "nc",
    "httpd",
    "true",
    "env",
    "nslookup",
)
_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@dataclass(frozen=True)
class Image:
    """What an image runs: its command, user, environment and working folder (the OCI config)."""

    ref: str
    cmd: Sequence[str]
    user: str = ""
    env: Mapping[str, str] = field(default_factory=lambda: {"PATH": "/bin:/usr/bin"})
    workdir: str = "/"


def write_oci_archive(root: Path, image: Image, out: Path) -> Path:
    """Write ``root`` as the single layer of ``image`` into the OCI archive ``out`` (reproducible: no
    timestamps; numeric owners as in the folder), for ``ctr images import`` or ``buildah pull``."""
    layer, diff_id = _layer(root)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Cmd": list(image.cmd),
            "User": image.user,
            "Env": [f"{k}={v}" for k, v in image.env.items()],
            "WorkingDir": image.workdir,
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        # One entry per layer: buildah checks that history and layers agree before it builds on an image.
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "kubemaint_devstack.images"}],
        "created": "1970-01-01T00:00:00Z",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial")
    with tarfile.open(partial, "w") as tar:
        layer_desc = _blob(tar, layer, "application/vnd.oci.image.layer.v1.tar+gzip")
        config_desc = _blob(tar, json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json")
        manifest = {"schemaVersion": 2, "mediaType": _OCI_MANIFEST, "config": config_desc,
                    "layers": [layer_desc]}  # fmt: skip
        manifest_desc = _blob(tar, json.dumps(manifest).encode(), _OCI_MANIFEST)
        manifest_desc["annotations"] = {
            "org.opencontainers.image.ref.name": image.ref,
            "io.containerd.image.name": image.ref,  # what ctr names the imported image
        }
        _file(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        _file(tar, "index.json", json.dumps({"schemaVersion": 2, "manifests": [manifest_desc]}).encode())
    partial.replace(out)
    return out


def pause_archive() -> Path:
    """The pause image, compiled from ``tools/node/pause.c`` with ``gcc -static``."""
    source = repo_root() / "tools" / "node" / "pause.c"
    image = Image(PAUSE, cmd=["/pause"])
    out = _cached("pause", source.read_bytes(), image)
    if out.is_file():
        return out
    gcc = shutil.which("gcc")
    if gcc is None:
        raise RuntimeError("building the pause image needs gcc (Debian: apt-get install gcc libc6-dev)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        subprocess.run([gcc, "-static", "-Os", "-s", "-o", root / "pause", source], check=True)
        return write_oci_archive(root, image, out)


def busybox_archive() -> Path:
    """A busybox image from Debian's static busybox (``busybox-static``), running as nobody by default."""
    binary = Path("/bin/busybox")
    if not binary.is_file():
        raise RuntimeError("building the busybox image needs Debian's busybox-static (/bin/busybox)")
    image = Image(BUSYBOX, cmd=["/bin/sh"], user="65534:65534")
    out = _cached("busybox", binary.read_bytes() + " ".join(BUSYBOX_APPLETS).encode(), image)
    if out.is_file():
        return out
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        (root / "bin").mkdir(parents=True)
        (root / "tmp").mkdir(mode=0o1777)
        (root / "tmp").chmod(0o1777)
        (root / "etc").mkdir()
        (root / "etc" / "passwd").write_text("root:x:0:0::/:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n")
        (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
        shutil.copy2(binary, root / "bin" / "busybox")
        for applet in BUSYBOX_APPLETS:
            (root / "bin" / applet).symlink_to("busybox")
        return write_oci_archive(root, image, out)


FORMAT = b"2"
"""Bump when the way archives are made changes, so cached ones are remade."""


def _cached(name: str, content: bytes, image: Image) -> Path:
    """Where the archive of ``image`` made of ``content`` is kept: named by the hash of every input."""
    digest = hashlib.sha256(FORMAT + content + repr(image).encode()).hexdigest()[:16]
    return cache_dir() / "images" / f"{name}-{digest}.oci.tar"


def _layer(root: Path) -> tuple[bytes, str]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(root.rglob("*")):
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(root)))
            info.mtime = 0
            info.uname = info.gname = ""  # numeric owners only, as they are in the folder
            if info.isreg():
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    data = raw.getvalue()
    return gzip.compress(data, mtime=0), "sha256:" + hashlib.sha256(data).hexdigest()


def _blob(tar: tarfile.TarFile, data: bytes, media_type: str) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    _file(tar, f"blobs/sha256/{digest}", data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def _file(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
