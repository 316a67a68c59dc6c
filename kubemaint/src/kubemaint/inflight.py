"""InFlight: counts requests being served, and lets a drain wait for them to finish."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["InFlight"]


class InFlight:
    """Requests in progress; ``writes`` counts those with an unsafe method (what read-only mode drains)."""

    def __init__(self) -> None:
        self._count = 0
        self._writes = 0
        self._changed = asyncio.Condition()
        self._waiters = 0

    @property
    def count(self) -> int:
        return self._count

    @property
    def writes(self) -> int:
        return self._writes

    def enter(self, *, write: bool = True) -> None:
        self._count += 1
        if write:
            self._writes += 1

    def exit(self, *, write: bool = True) -> None:
        self._count -= 1
        if write:
            self._writes -= 1
        if self._waiters:
            asyncio.get_running_loop().create_task(self._notify())

    @contextmanager
    def track(self, *, write: bool = True) -> Iterator[None]:
        """Count the enclosed block as one request in flight."""
        self.enter(write=write)
        try:
            yield
        finally:
            self.exit(write=write)

    async def wait_idle(self, limit: float, *, writes_only: bool = False) -> bool:
        """Wait until nothing (or no write) is in flight; False when ``limit`` seconds passed first."""

        def idle() -> bool:
            return (self._writes if writes_only else self._count) <= 0

        if idle():
            return True
        self._waiters += 1
        try:
            async with asyncio.timeout(limit), self._changed:
                await self._changed.wait_for(idle)
        except TimeoutError:
            return idle()
        finally:
            self._waiters -= 1
        return True

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()
