"""One open etcd client per etcd the operator talks to (its own, and each ``spec.etcd``).

All reads and writes go through :class:`kubemaint.store.StateStore`; this module only knows how to reach
an etcd. TLS material and credentials of ``spec.etcd.secretRef`` are read from the Secret and written to
private files (etcd3aio's configuration takes file paths), re-read after any failure so rotation works.

A Secret is used only for the endpoints that its owner approved: its annotation
``kubemaint.io/etcd-endpoints`` must list every endpoint of the object (a comma list, compared after the
library's normalisation). Otherwise nothing of the Secret leaves the operator, no connection is opened,
and the object's ``EtcdSynced`` condition says ``SecretNotApproved``. Whoever may create a Maintenance
therefore cannot send a Secret of its namespace to a server of their choosing (see the operator README's
threat model).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from etcd3aio import Etcd3Client
from kubemaint.client import EtcdConfig, connect, parse_endpoints
from kubemaint.store import StateStore

from kubemaint_operator.kube import GROUP, KubeClient, SecretData
from kubemaint_operator.targets import EtcdTarget

__all__ = ["APPROVED_ENDPOINTS", "EtcdClients", "SecretError", "approval_problem"]

log = logging.getLogger(__name__)

_FILES = {"ca.crt": "ca_file", "tls.crt": "cert_file", "tls.key": "key_file"}
APPROVED_ENDPOINTS = f"{GROUP}/etcd-endpoints"
"""The Secret annotation that lists the etcd endpoints its owner lets the operator use it for."""


class SecretError(RuntimeError):
    """The Secret of ``spec.etcd.secretRef`` is missing, unusable or not approved for the endpoints.

    ``reason`` is the ``EtcdSynced`` condition's reason; ``refused`` is True when retrying cannot help
    until someone changes the Secret or the object (a policy refusal, not an outage).
    """

    def __init__(self, message: str, *, reason: str = "SecretUnavailable", refused: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.refused = refused


def approval_problem(secret: SecretData, endpoints: tuple[str, ...], where: str) -> str | None:
    """Why ``secret`` may not be used for ``endpoints`` (``None``: its owner approved every one)."""
    listed = secret.annotations.get(APPROVED_ENDPOINTS)
    if listed is None:
        return (
            f"Secret {where} does not approve any etcd endpoint: its owner must annotate it "
            f"{APPROVED_ENDPOINTS}={','.join(endpoints)}"
        )
    try:
        approved = {endpoint.address for endpoint in parse_endpoints(listed)}
    except ValueError as exc:
        return f"Secret {where}: annotation {APPROVED_ENDPOINTS}: {exc}"
    missing = [e.address for e in parse_endpoints(endpoints) if e.address not in approved]
    if missing:
        return f"Secret {where} is not approved for {', '.join(missing)} (annotation {APPROVED_ENDPOINTS})"
    return None


_CacheKey = tuple[tuple[str, ...], tuple[str, str] | None]
"""(normalised endpoints, Secret): one connection's identity (empty endpoints: the operator's own etcd)."""


class EtcdClients:
    """Connected clients keyed by connection settings; a failed one is dropped and reopened on next use."""

    def __init__(self, default: EtcdConfig, kube: KubeClient, material_dir: Path) -> None:
        self._default = default
        self._kube = kube
        self._material_dir = material_dir
        self._open: dict[EtcdConfig, tuple[Etcd3Client, StateStore]] = {}
        self._configs: dict[_CacheKey, EtcdConfig] = {}
        self._locks: dict[_CacheKey, asyncio.Lock] = {}
        self._retiring: set[asyncio.Task[None]] = set()

    def _lock(self, target: EtcdTarget) -> asyncio.Lock:
        """One lock per etcd and Secret: a slow Secret read or etcd login holds up only the objects that
        use the same one, never the others."""
        return self._locks.setdefault((target.endpoints, target.secret), asyncio.Lock())

    async def writer(self, target: EtcdTarget) -> StateStore:
        """The writer on the etcd of ``target`` (connecting on first use); the same one until discarded."""
        async with self._lock(target):
            settings = await self._config(target)
            opened = self._open.get(settings)
            if opened is None:
                client = await connect(settings)
                opened = (client, StateStore(client, timeout=settings.timeout))
                self._open[settings] = opened
            return opened[1]

    async def config_for(self, target: EtcdTarget) -> EtcdConfig:
        """The connection settings of ``target`` (Secret material resolved)."""
        async with self._lock(target):
            return await self._config(target)

    async def discard(self, target: EtcdTarget, failed: StateStore | None) -> None:
        """Drop ``failed``, the writer of ``target`` a call just failed on, and its Secret material.

        Only while it is still the one handed out: a concurrent caller may already have replaced it, and its
        fresh client stays open. ``None`` (no writer could be opened) only makes the Secret be read again.
        """
        cache_key = (target.endpoints, target.secret)
        async with self._lock(target):
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
        # Other objects' calls may still be in flight on it: closing the channel now would cancel them, and
        # grpc.aio reports that as CancelledError, which stops a daemon for good (seen with 100 objects).
        # New calls get a new client at once; this one closes once every call on it has met its deadline.
        retire = asyncio.create_task(self._close_later(opened[0], 2 * settings.timeout + 1))
        self._retiring.add(retire)
        retire.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        clients = [client for client, _ in self._open.values()]
        self._open.clear()
        self._configs.clear()
        for task in list(self._retiring):
            task.cancel()
        await asyncio.gather(*self._retiring, return_exceptions=True)
        for client in clients:
            await _close_quietly(client)

    @staticmethod
    async def _close_later(client: Etcd3Client, seconds: float) -> None:
        try:
            await asyncio.sleep(seconds)
        finally:
            await _close_quietly(client)

    async def _config(self, target: EtcdTarget) -> EtcdConfig:
        if not target.endpoints:
            return self._default
        cache_key = (target.endpoints, target.secret)
        settings = self._configs.get(cache_key)
        if settings is None:
            options: dict[str, object] = {"timeout": self._default.timeout}
            if target.secret is not None:
                options.update(await self._secret_options(target.endpoints, *target.secret))
            try:
                settings = EtcdConfig.from_endpoints(",".join(target.endpoints), **options)
            except ValueError as exc:
                raise SecretError(f"spec.etcd: {exc}") from None
            self._configs[cache_key] = settings
        return settings

    async def _secret_options(
        self, endpoints: tuple[str, ...], namespace: str, name: str
    ) -> dict[str, object]:
        try:
            secret = await self._kube.read_secret(namespace, name)
        except Exception as exc:
            raise SecretError(f"cannot read Secret {namespace}/{name}: {_reason(exc)}") from None
        problem = approval_problem(secret, endpoints, f"{namespace}/{name}")
        if problem is not None:
            raise SecretError(problem, reason="SecretNotApproved", refused=True)
        data = secret.data
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


def _reason(exc: BaseException) -> str:
    """One line for a failed Secret read (an ApiException's reason, not its headers and body)."""
    reason = getattr(exc, "reason", None)
    status = getattr(exc, "status", None)
    if isinstance(reason, str) and status is not None:
        return f"{status} {reason}"
    return type(exc).__name__


async def _close_quietly(client: Etcd3Client) -> None:
    try:
        await client.close()
    except Exception as exc:  # a broken channel may fail to close; it is dropped either way
        log.debug("closing an etcd client failed: %s", exc)
