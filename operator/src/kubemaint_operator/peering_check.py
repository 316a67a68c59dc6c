"""Say so when kopf's peering object is missing, instead of idling in silence.

With peering on (the default), kopf keeps a replica paused until its ``ClusterKopfPeering`` (or, with
``WATCH_NAMESPACES``, each namespace's ``KopfPeering``) exists, and says so only at debug level. This
watcher looks every few seconds, logs a warning at once (then once a minute while it lasts) with the two
ways out, and keeps the finding for the ``peering`` probe of the liveness endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

__all__ = ["PeeringWatch", "missing_message"]

log = logging.getLogger(__name__)

CHECK_SECONDS = 3.0
REPEAT_SECONDS = 60.0


def missing_message(name: str, namespaces: Sequence[str]) -> str:
    """What is missing and the two ways out, in one line."""
    if namespaces:
        where = f"KopfPeering {name!r} in namespace(s) {', '.join(namespaces)}"
    else:
        where = f"ClusterKopfPeering {name!r}"
    return (
        f"{where} does not exist, so this replica waits and handles nothing: apply k8s/base/peering/ "
        f"(the operator chart installs it), or set STANDALONE=true to run a single replica without peering"
    )


class PeeringWatch:
    """Checks ``exists`` until the peering object is there; ``problem`` is what the probe reports."""

    def __init__(self, exists: Callable[[], Awaitable[bool]], message: str) -> None:
        self._exists = exists
        self._message = message
        self.problem: str | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="kubemaint peering check")

    async def _run(self) -> None:
        warned_at: float | None = None
        while True:
            try:
                found = await self._exists()
            except Exception as exc:  # cannot tell (RBAC, API down): report it, keep looking
                self.problem = f"cannot check the peering object: {type(exc).__name__}: {exc}".splitlines()[0]
                found = False
            else:
                self.problem = None if found else self._message
            if found:
                if warned_at is not None:
                    log.warning("the peering object exists now: this replica takes part")
                return
            now = time.monotonic()
            if warned_at is None or now - warned_at >= REPEAT_SECONDS:
                log.warning("%s", self.problem)
                warned_at = now
            await asyncio.sleep(CHECK_SECONDS)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
