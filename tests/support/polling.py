"""Poll until something holds. The time bounds only stop a hang (on a loaded 2-core machine the servers
are slow, never wrong); they are seconds, and a test that waits names what it waits for."""

from __future__ import annotations

import asyncio
import time
import urllib.error
from collections.abc import Awaitable, Callable
from typing import TypeVar

from kubemaint_devstack.controlplane import KubectlError

T = TypeVar("T")

TRANSIENT = (KubectlError, urllib.error.URLError, OSError, KeyError)
"""What a check may raise while the thing it looks at is still on its way (not there yet, refused, a field
not yet written): ``eventually`` tries again, and reports the last one if time runs out."""


def eventually(
    check: Callable[[], T], timeout: float = 30.0, what: str = "condition", every: float = 0.1
) -> T:
    """Call ``check`` every ``every`` s until it returns something truthy, and return that; fail with
    ``what`` after ``timeout`` s. A :data:`TRANSIENT` error counts as not yet; any other error (an
    ``AssertionError`` that says the wait is hopeless, say) ends the wait at once."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = check()
        except TRANSIENT as exc:
            last = exc
        else:
            if result:
                return result
            last = result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout:.0f} s (last: {last!r})")
        time.sleep(every)


def seconds_until(what: str, check: Callable[[], object], timeout: float = 90.0, every: float = 0.5) -> float:
    """:func:`eventually`, timed: the seconds it took (the figures the story prints)."""
    started = time.monotonic()
    eventually(check, timeout, what, every)
    return time.monotonic() - started


async def eventually_async(
    predicate: Callable[[], object | Awaitable[object]],
    timeout: float = 10.0,
    what: str = "condition",
    every: float = 0.01,
) -> None:
    """Await a sync or async ``predicate`` every ``every`` s, without blocking the event loop, until it is
    truthy; fail with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        await asyncio.sleep(every)
