"""Which etcd changes count as drift: only values at a revision the operator did not sync itself."""

from __future__ import annotations

from kubemaint.source import Observation
from kubemaint.state import OFF
from kubemaint_operator.key_watches import KeyWatches


def _seen(watches: KeyWatches, identity: str, revision: int) -> None:
    watches.observe(identity, Observation(OFF, revision, "x"))


def test_own_write_is_not_drift() -> None:
    watches = KeyWatches()
    watches.synced("k", 7)
    _seen(watches, "k", 7)
    assert watches.take_dirty("k") is False


def test_change_at_another_revision_is_drift_once() -> None:
    watches = KeyWatches()
    watches.synced("k", 7)
    _seen(watches, "k", 9)
    assert watches.take_dirty("k") is True
    assert watches.take_dirty("k") is False


def test_a_sync_clears_pending_drift() -> None:
    watches = KeyWatches()
    watches.synced("k", 7)
    _seen(watches, "k", 9)
    watches.synced("k", 10)
    assert watches.take_dirty("k") is False


def test_nothing_is_drift_before_the_first_sync_and_keys_are_separate() -> None:
    watches = KeyWatches()
    _seen(watches, "k", 3)
    assert watches.take_dirty("k") is False
    watches.synced("k", 3)
    watches.synced("other", 3)
    _seen(watches, "k", 4)
    assert watches.take_dirty("other") is False
    assert watches.take_dirty("k") is True
