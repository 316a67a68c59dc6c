"""Which status is in force: the one this replica published, or the body's (resourceVersion rules)."""

from __future__ import annotations

from typing import Any

from kubemaint_operator.published import PublishedStatuses


def body(version: str, phase: str | None = None, uid: str = "u1") -> dict[str, Any]:
    status = {"phase": phase} if phase else {}
    return {"metadata": {"uid": uid, "resourceVersion": version}, "status": status}


def test_a_body_not_newer_than_the_patch_shows_what_was_written() -> None:
    cache = PublishedStatuses()
    cache.remember(body("10", "Pending"), {"phase": "Active"}, written="11")
    assert cache.published(body("10", "Pending")) == {"phase": "Active"}, "the watch has not caught up yet"
    assert cache.published(body("11", "Active")) == {"phase": "Active"}, "caught up"


def test_a_version_written_by_someone_else_wins_over_the_memory() -> None:
    cache = PublishedStatuses()
    cache.remember(body("10", "Pending"), {"phase": "Active"}, written="11")
    # another replica led meanwhile (this one was paused) and wrote Completed at version 57
    assert cache.published(body("57", "Completed")) == {"phase": "Completed"}
    assert "u1" not in cache, "the stale memory is dropped"
    assert cache.published(body("10", "Pending")) == {"phase": "Pending"}, "and not revived by an old body"


def test_patches_on_top_of_patches_keep_every_own_version() -> None:
    cache = PublishedStatuses()
    cache.remember(body("10"), {"phase": "Active"}, written="11")
    cache.remember(body("10"), {"phase": "Active", "n": 2}, written="12")
    assert cache.published(body("11", "Active")) == {"phase": "Active", "n": 2}, "11 is older than 12"
    assert cache.published(body("12", "Active")) == {"phase": "Active", "n": 2}


def test_an_unchanged_status_is_remembered_for_its_own_version_only() -> None:
    cache = PublishedStatuses()
    cache.remember(body("10", "Active"), {"phase": "Active"})
    assert cache.published(body("10", "Active")) == {"phase": "Active"}
    assert cache.published(body("13", "Failed")) == {"phase": "Failed"}


def test_objects_are_kept_apart_and_forgotten() -> None:
    cache = PublishedStatuses()
    cache.remember(body("10", uid="a"), {"phase": "Active"}, written="11")
    assert cache.published(body("10", "Pending", uid="b")) == {"phase": "Pending"}
    cache.forget("a")
    assert cache.published(body("10", "Pending", uid="a")) == {"phase": "Pending"}
