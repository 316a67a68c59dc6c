"""Which etcd changes wake the objects of a key: only values at a revision the operator did not sync
itself; and how the wake-ups reach the daemons of exactly the objects that write that key."""

from __future__ import annotations

import asyncio

from kubemaint.source import Observation
from kubemaint.state import OFF
from kubemaint_operator.key_watches import KeyWatches
from kubemaint_operator.wakeups import Wakeups


def _watches() -> tuple[KeyWatches, list[str]]:
    woken: list[str] = []
    return KeyWatches(woken.append), woken


def _seen(watches: KeyWatches, identity: str, revision: int) -> None:
    watches.observe(identity, Observation(OFF, revision, "x"))


def test_own_write_wakes_nobody() -> None:
    watches, woken = _watches()
    watches.synced("k", 7)
    _seen(watches, "k", 7)
    assert woken == []


def test_a_change_at_another_revision_wakes_the_key() -> None:
    watches, woken = _watches()
    watches.synced("k", 7)
    _seen(watches, "k", 9)
    assert woken == ["k"]
    watches.synced("k", 9)  # the repair read it
    _seen(watches, "k", 9)
    assert woken == ["k"]


def test_an_older_revision_is_not_drift() -> None:
    watches, woken = _watches()
    watches.synced("k", 9)  # another object's write, answered before the watch delivered the one at 8
    _seen(watches, "k", 8)
    assert woken == []


def test_a_change_seen_during_a_write_is_judged_by_the_revision_the_write_returns() -> None:
    watches, woken = _watches()
    watches.synced("k", 7)
    with watches.syncing("k"):
        _seen(watches, "k", 8)  # the watch delivered the write before its answer
        watches.synced("k", 8)
    assert woken == []
    with watches.syncing("k"):
        _seen(watches, "k", 10)  # a hand edit after this write
        _seen(watches, "k", 9)
        watches.synced("k", 9)
    assert woken == ["k"]


def test_a_change_seen_during_a_failed_write_wakes_the_key() -> None:
    watches, woken = _watches()
    watches.synced("k", 7)
    with watches.syncing("k"):
        _seen(watches, "k", 8)
    assert woken == ["k"]


def test_nothing_is_drift_before_the_first_sync_and_keys_are_separate() -> None:
    watches, woken = _watches()
    _seen(watches, "k", 3)
    assert woken == []
    watches.synced("k", 3)
    watches.synced("other", 3)
    _seen(watches, "k", 4)
    assert woken == ["k"]


def test_wake_target_sets_only_the_followers_of_that_key() -> None:
    async def scenario() -> None:
        wakeups = Wakeups()
        a, b = wakeups.follow("a", "k1", "ns"), wakeups.follow("b", "k2", "ns")
        wakeups.wake_target("k1")
        assert (a.is_set(), b.is_set()) == (True, False)
        a.clear()
        assert wakeups.follow("a", "k2", "ns") is a, "a spec change moves the object, its event stays"
        wakeups.wake_target("k2")
        assert (a.is_set(), b.is_set()) == (True, True)

    asyncio.run(scenario())


def test_forgotten_objects_are_not_woken_or_counted() -> None:
    async def scenario() -> None:
        wakeups = Wakeups()
        event = wakeups.follow("a", "k", "ns")
        wakeups.forget("a")
        wakeups.wake("a")
        wakeups.wake_target("k")
        assert not event.is_set()
        assert len(wakeups) == 0

    asyncio.run(scenario())


def test_wake_namespace_sets_only_the_objects_of_that_namespace() -> None:
    async def scenario() -> None:
        wakeups = Wakeups()
        shop, other = wakeups.follow("a", "k", "shop"), wakeups.follow("b", "k", "other")
        wakeups.wake_namespace("shop")
        assert (shop.is_set(), other.is_set()) == (True, False)

    asyncio.run(scenario())
