"""Merging several Maintenance objects of one service into the one value the operator writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kubemaint.state import OFF, MaintenanceState, Mode, merge

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def on(**fields: object) -> MaintenanceState:
    return MaintenanceState(enabled=True, **fields)  # type: ignore[arg-type]


def test_nothing_active_merges_to_off() -> None:
    assert merge([], NOW) == OFF
    assert merge([MaintenanceState(enabled=False, sources=("a/x",))], NOW) == OFF
    assert merge([on(until=NOW - timedelta(seconds=1))], NOW) == OFF


def test_one_active_state_is_kept() -> None:
    state = on(reason="upgrade", retry_after=120, sources=("shop/db",))
    assert merge([state], NOW) == state


def test_full_wins_over_read_only() -> None:
    merged = merge([on(mode=Mode.READ_ONLY), on(mode=Mode.FULL)], NOW)
    assert merged.mode is Mode.FULL
    assert merge([on(mode=Mode.READ_ONLY), on(mode=Mode.READ_ONLY)], NOW).mode is Mode.READ_ONLY


def test_an_expired_full_does_not_override_an_active_read_only() -> None:
    merged = merge([on(mode=Mode.READ_ONLY), on(mode=Mode.FULL, until=NOW - timedelta(minutes=1))], NOW)
    assert merged.enabled
    assert merged.mode is Mode.READ_ONLY


def test_the_largest_retry_after_wins() -> None:
    assert merge([on(retry_after=60), on(retry_after=300), on()], NOW).retry_after == 300
    assert merge([on(), on()], NOW).retry_after is None


def test_the_latest_end_wins_and_no_end_beats_any_end() -> None:
    early, late = NOW + timedelta(hours=1), NOW + timedelta(hours=2)
    assert merge([on(until=early), on(until=late)], NOW).until == late
    assert merge([on(until=late), on()], NOW).until is None


def test_sources_list_every_active_object_once_sorted() -> None:
    merged = merge(
        [
            on(sources=("shop/b",)),
            on(sources=("shop/a", "shop/b")),
            MaintenanceState(enabled=False, sources=("shop/off",)),
        ],
        NOW,
    )
    assert merged.sources == ("shop/a", "shop/b")


def test_reasons_are_joined_without_duplicates_or_blanks() -> None:
    merged = merge([on(reason="db"), on(reason=""), on(reason="db"), on(reason="network")], NOW)
    assert merged.reason == "db; network"


def test_merge_does_not_depend_on_order() -> None:
    states = [on(reason="a", retry_after=5, sources=("n/a",)), on(mode=Mode.READ_ONLY, reason="b")]
    assert merge(states, NOW) == merge(list(reversed(states)), NOW)
