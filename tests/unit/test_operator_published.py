"""Which status is in force: the one this replica published, or the body's (who wrote the body's status)."""

from __future__ import annotations

from typing import Any

from kubemaint_operator.published import PublishedStatuses


def body(version: str, status: dict[str, Any] | None = None, uid: str = "u1") -> dict[str, Any]:
    return {"metadata": {"uid": uid, "resourceVersion": version}, "status": status or {}}


PENDING = {"phase": "Pending"}
ACTIVE = {"phase": "Active", "activeSince": "2026-12-02T10:00:00Z"}


def test_a_body_the_watch_has_not_updated_yet_shows_what_was_written() -> None:
    cache = PublishedStatuses()
    cache.remember(body("10", PENDING), ACTIVE)
    assert cache.published(body("10", PENDING)) == ACTIVE, "the watch has not caught up yet"
    assert cache.published(body("11", ACTIVE)) == ACTIVE, "caught up"


def test_a_version_of_unknown_age_with_a_known_status_keeps_the_memory() -> None:
    cache = PublishedStatuses()
    cache.remember(body("10", PENDING), ACTIVE)
    # kopf's own annotation patch, made before or after ours: versions cannot say which
    assert cache.published(body("12", PENDING)) == ACTIVE
    assert cache.published(body("13", ACTIVE)) == ACTIVE


def test_a_status_someone_else_wrote_wins_over_the_memory() -> None:
    cache = PublishedStatuses()
    cache.remember(body("10", PENDING), ACTIVE)
    # another replica led meanwhile (this one was paused) and wrote Completed
    assert cache.published(body("57", {"phase": "Completed"})) == {"phase": "Completed"}
    assert "u1" not in cache, "the stale memory is dropped"
    assert cache.published(body("10", PENDING)) == PENDING, "and not revived by an old body"


def test_fields_patched_to_null_are_absent_on_the_server() -> None:
    cache = PublishedStatuses()
    cache.remember(body("10", ACTIVE), {"phase": "Completed", "activeSince": None})
    assert cache.published(body("11", {"phase": "Completed"})) == {"phase": "Completed", "activeSince": None}


def test_patches_on_top_of_patches_keep_every_own_status() -> None:
    cache = PublishedStatuses()
    cache.remember(body("10", PENDING), ACTIVE)
    second = {**ACTIVE, "replicas": {"live": 2}}
    cache.remember(body("10", PENDING), second)
    assert cache.published(body("11", ACTIVE)) == second, "11 carries the first of our writes"
    assert cache.published(body("12", second)) == second


def test_objects_are_kept_apart_and_forgotten() -> None:
    cache = PublishedStatuses()
    cache.remember(body("10", uid="a"), ACTIVE)
    assert cache.published(body("10", PENDING, uid="b")) == PENDING
    cache.forget("a")
    assert cache.published(body("10", PENDING, uid="a")) == PENDING
