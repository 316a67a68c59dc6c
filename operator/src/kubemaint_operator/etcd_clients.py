"""One open etcd client per etcd the operator talks to (its own, and each ``spec.etcd``).

All reads and writes go through :class:`kubemaint.writer.EtcdWriter`; this module only knows how to reach
an etcd. TLS material and credentials of ``spec.etcd.secretRef`` are read from the Secret and written to
private files (etcd3aio's configuration takes file paths), re-read after any failure so rotation works.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from etcd3aio import Etcd3Client
from kubemaint.etcd import EtcdConfig, EtcdWriter, connect

from kubemaint_operator.kube import KubeClient
from kubemaint_operator.targets import EtcdTarget

__all__ = ["EtcdClients", "SecretError"]

log = logging.getLogger(__name__)

_FILES = {"ca.crt": "ca_file", "tls.crt": "cert_file", "tls.key": "key_file"}


class SecretError(RuntimeError):
    """The Secret of ``spec.etcd.secretRef`` is missing or unusable."""


class EtcdClients:
    """Connected clients keyed by connection settings; a failed one is dropped and reopened on next use."""

    def __init__(self, default: EtcdConfig, kube: KubeClient, material_dir: Path) -> None:
        self._default = default
        self._kube = kube
        self._material_dir = material_dir
        self._open: dict[EtcdConfig, tuple[Etcd3Client, EtcdWriter]] = {}
        self._configs: dict[tuple[tuple[str, ...], tuple[str, str] | None], EtcdConfig] = {}
        self._lock = asyncio.Lock()

    async def writer(self, target: EtcdTarget) -> EtcdWriter:
        """The writer on the etcd of ``target`` (connecting on first use); the same one until discarded."""
        async with self._lock:
            settings = await self._config(target)
            opened = self._open.get(settings)
            if opened is None:
                client = await connect(settings)
                opened = (client, EtcdWriter(client, timeout=settings.timeout))
                self._open[settings] = opened
            return opened[1]

    async def config_for(self, target: EtcdTarget) -> EtcdConfig:
        """The connection settings of ``target`` (Secret material resolved)."""
        async with self._lock:
            return await self._config(target)

    async def discard(self, target: EtcdTarget, failed: EtcdWriter | None) -> None:
        """Drop ``failed``, the writer of ``target`` a call just failed on, and its Secret material.

        Only while it is still the one handed out: a concurrent caller may already have replaced it, and its
        fresh client stays open. ``None`` (no writer could be opened) only makes the Secret be read again.
        """
        cache_key = (target.endpoints, target.secret)
        async with self._lock:
            settings = self._configs.get(cache_key) if target.endpoints else self._default
            if settings is None:
                return
            opened = self._open.get(settings)
            if opened is None:
                self._configs.pop(cache_key, None)
                return
            if failed is None or opened[1] is not failed:
                return
            del self._open[settings]
            self._configs.pop(cache_key, None)
        await _close_quietly(opened[0])

    async def close(self) -> None:
        async with self._lock:
            clients = [client for client, _ in self._open.values()]
            self._open.clear()
            self._configs.clear()
        for client in clients:
            await _close_quietly(client)

    async def _config(self, target: EtcdTarget) -> EtcdConfig:
        if not target.endpoints:
            return self._default
        cache_key = (target.endpoints, target.secret)
        settings = self._configs.get(cache_key)
        if settings is None:
            options: dict[str, object] = {"timeout": self._default.timeout}
            if target.secret is not None:
                options.update(await self._secret_options(*target.secret))
            try:
                settings = EtcdConfig.from_endpoints(",".join(target.endpoints), **options)
            except ValueError as exc:
                raise SecretError(f"spec.etcd: {exc}") from None
            self._configs[cache_key] = settings
        return settings

    async def _secret_options(self, namespace: str, name: str) -> dict[str, object]:
        try:
            data = await self._kube.read_secret(namespace, name)
        except Exception as exc:
            raise SecretError(f"cannot read Secret {namespace}/{name}: {exc}") from None
        options: dict[str, object] = {}
        if "username" in data:
            options["username"] = data["username"].decode().strip()
            options["password"] = data.get("password", b"").decode().strip()
        files = {option: data[item] for item, option in _FILES.items() if item in data}
        if files:
            folder = self._material_dir / _folder_name(namespace, name, data)
            paths = await asyncio.to_thread(_write_private, folder, files)
            options.update(paths)
        return options


def _folder_name(namespace: str, name: str, data: Mapping[str, bytes]) -> str:
    digest = hashlib.sha256(b"".join(data[k] for k in sorted(data))).hexdigest()[:12]
    return f"{namespace}.{name}.{digest}"


def _write_private(folder: Path, files: Mapping[str, bytes]) -> dict[str, str]:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    for option, content in files.items():
        path = folder / option
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
        paths[option] = str(path)
    return paths


async def _close_quietly(client: Etcd3Client) -> None:
    try:
        await client.close()
    except Exception as exc:  # a broken channel may fail to close; it is dropped either way
        log.debug("closing an etcd client failed: %s", exc)
