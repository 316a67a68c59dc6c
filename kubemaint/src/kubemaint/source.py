"""EtcdSource: follows one maintenance key (read, then watch) and reports every new value exactly once.

How it stays right across failures:

* It reads the key, then watches from the read revision + 1. It keeps ``observed``, the store revision up
  to which it knows the key's value (a read's header revision, or the last event's mod revision). Events at
  or below ``observed`` are duplicates and dropped. After a failure the new session watches again from
  ``observed + 1``: etcd replays every change made meanwhile, in order, so a restart or a network cut loses
  nothing and repeats nothing.
* etcd3aio resumes a broken watch stream by itself, from the last response's *header* revision; a created
  response carries the current revision, not the last delivered event, so that resume may skip events. On
  every re-created stream the source therefore re-reads the key, which closes any such gap.
* If that revision was compacted meanwhile, etcd cancels the watch (etcd3aio would then wait forever):
  the source re-reads the key and watches again from the read revision + 1.
* etcd3aio does not notice a frozen connection. A watchdog reads the key every ``watchdog_interval`` with
  the configured timeout; a failure tears the session down, and a new client is made after a back-off
  capped at ``backoff_cap`` (one second). Should the watchdog see a newer value that the watch has still
  not delivered one interval later, it applies that value itself (belt and braces; it never pre-empts the
  ordered replay of a resumed watch).
* A malformed value is reported as an :class:`Observation` with ``error`` set and ``state`` ``None``; the
  consumer keeps its last good state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from etcd3aio import Etcd3Client

from kubemaint.client import EtcdConfig, describe_error, kv_of, session, watch_of
from kubemaint.state import MaintenanceState, StateParseError, parse
from kubemaint.tasks import cancel_and_wait

__all__ = ["EtcdSource", "Observation"]

log = logging.getLogger(__name__)

_DELETE = 1  # mvccpb.Event.EventType.DELETE


@dataclass(frozen=True, slots=True)
class Observation:
    """A value seen at ``revision`` (its mod revision; 0 for a key that never existed)."""

    state: MaintenanceState | None
    revision: int
    raw: str | None
    error: str | None = None


class WatchCanceledError(RuntimeError):
    """etcd canceled the watch for a reason other than compaction."""


class EtcdSource:
    """Follows ``key``: ``on_observation`` for each new value, ``on_connection`` when connectivity changes."""

    def __init__(
        self,
        config: EtcdConfig,
        key: str,
        on_observation: Callable[[Observation], None],
        on_connection: Callable[[bool], None] | None = None,
        *,
        watchdog_interval: float = 1.0,
        backoff_start: float = 0.1,
        backoff_cap: float = 1.0,
    ) -> None:
        self._config = config
        self._key = key
        self._on_observation = on_observation
        self._on_connection = on_connection
        self._watchdog_interval = watchdog_interval
        self._backoff_start = backoff_start
        self._backoff_cap = backoff_cap
        self._observed = 0
        self._last: Observation | None = None
        self._connected = False
        self._first = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.sessions = 0
        self.compactions = 0
        self.malformed = 0
        self.last_error: str | None = None

    @property
    def key(self) -> str:
        return self._key

    @property
    def connected(self) -> bool:
        """True while the last read or watch of etcd succeeded."""
        return self._connected

    @property
    def last(self) -> Observation | None:
        """The last value reported (good or malformed)."""
        return self._last

    @property
    def observed_revision(self) -> int:
        """The store revision up to which the key's value is known."""
        return self._observed

    def start(self) -> None:
        """Start following the key in the background (inside the running loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"etcd-source {self._key}")

    async def wait_first(self, within: float) -> bool:
        """Wait until the key has been read once; False if that did not happen ``within`` seconds."""
        try:
            async with asyncio.timeout(within):
                await self._first.wait()
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        """Stop following; the client is closed."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        self._set_connected(False)

    def stats(self) -> dict[str, object]:
        return {
            "key": self._key,
            "connected": self._connected,
            "observedRevision": self._observed,
            "valueRevision": self._last.revision if self._last else None,
            "sessions": self.sessions,
            "compactions": self.compactions,
            "malformed": self.malformed,
            "lastError": self.last_error,
        }

    async def _run(self) -> None:
        backoff = self._backoff_start
        while True:
            try:
                async with session(self._config) as client:
                    self.sessions += 1
                    await self._session(client)
            except Exception as exc:
                self._failed(exc)
            if self._connected:
                backoff = self._backoff_start
            self._set_connected(False)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._backoff_cap)

    def _failed(self, exc: BaseException) -> None:
        message = describe_error(exc)
        if self._connected or message != self.last_error:
            log.warning("etcd session for %s ended: %s", self._key, message)
        self.last_error = message

    async def _session(self, client: Etcd3Client) -> None:
        if self._last is None:
            await self._read(client)
        async with asyncio.TaskGroup() as group:
            group.create_task(self._watch(client))
            group.create_task(self._watchdog(client))

    async def _watchdog(self, client: Etcd3Client) -> None:
        behind_at: int | None = None
        while True:
            await asyncio.sleep(self._watchdog_interval)
            response = await kv_of(client).get(self._key, timeout=self._config.timeout)
            if response.kvs:
                behind = int(response.kvs[0].mod_revision) > self._observed
            else:
                behind = self._last is not None and self._last.raw is not None
            if not behind:
                behind_at = None
            elif behind_at is None:
                behind_at = int(response.header.revision)
            else:
                log.warning("the watch of %s fell behind; applying the value read", self._key)
                self._apply_read(response)
                behind_at = None

    async def _watch(self, client: Etcd3Client) -> None:
        while True:
            stream = watch_of(client).watch(self._key, start_revision=self._observed + 1)
            async with contextlib.aclosing(stream):  # type: ignore[type-var]
                created = 0
                async for response in stream:
                    if response.canceled:
                        if response.compact_revision > 0:
                            self.compactions += 1
                            log.info(
                                "watch of %s from revision %d compacted (at %d): reading the key again",
                                self._key,
                                self._observed + 1,
                                response.compact_revision,
                            )
                            await self._read(client)
                            break
                        raise WatchCanceledError(response.cancel_reason or "watch canceled by etcd")
                    if response.created:
                        self._set_connected(True)
                        created += 1
                        if created > 1:  # etcd3aio resumed the stream by itself: close any gap
                            await self._read(client)
                        continue
                    for event in response.events:
                        self._apply_event(event)
                else:
                    raise WatchCanceledError("watch stream ended")

    def _apply_event(self, event: Any) -> None:
        revision = int(event.kv.mod_revision)
        if revision <= self._observed:
            return
        self._observed = revision
        raw = None if event.type == _DELETE else bytes(event.kv.value).decode("utf-8", errors="replace")
        self._report(raw, revision)

    async def _read(self, client: Etcd3Client) -> None:
        response = await kv_of(client).get(self._key, timeout=self._config.timeout)
        self._set_connected(True)
        self._apply_read(response)

    def _apply_read(self, response: Any) -> None:
        header = int(response.header.revision)
        if header <= self._observed and self._last is not None:
            return  # the watch already delivered something at least as new
        self._observed = max(self._observed, header)
        if response.kvs:
            kv = response.kvs[0]
            revision = int(kv.mod_revision)
            if self._last is None or self._last.raw is None or revision != self._last.revision:
                self._report(bytes(kv.value).decode("utf-8", errors="replace"), revision)
        elif self._last is None:
            self._report(None, 0)
        elif self._last.raw is not None:  # deleted while we were not watching
            self._report(None, header)

    def _report(self, raw: str | None, revision: int) -> None:
        try:
            observation = Observation(parse(raw), revision, raw)
        except StateParseError as exc:
            self.malformed += 1
            self.last_error = f"malformed value at revision {revision}: {exc}"
            log.error("maintenance key %s: %s; keeping the last good state", self._key, self.last_error)
            observation = Observation(None, revision, raw, str(exc))
        self._last = observation
        self._first.set()
        try:
            self._on_observation(observation)
        except Exception:
            log.exception("maintenance observation callback failed")

    def _set_connected(self, connected: bool) -> None:
        if connected == self._connected:
            return
        self._connected = connected
        log.info("etcd %s for %s", "connected" if connected else "disconnected", self._key)
        if self._on_connection is not None:
            try:
                self._on_connection(connected)
            except Exception:
                log.exception("etcd connection callback failed")
