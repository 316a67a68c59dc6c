"""What state a replica targets: expiry, the etcd-loss policy and the kind of transition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from kubemaint.policy import (
    LOSS_STATE,
    LossPolicy,
    Transition,
    next_deadline,
    target_state,
    transition_between,
)
from kubemaint.state import OFF, MaintenanceState, Mode

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
ON = MaintenanceState(enabled=True, reason="x")


def target(
    known: MaintenanceState | None, connected: bool, gone: float | None, policy: LossPolicy
) -> tuple[MaintenanceState, str]:
    t = target_state(known, now=NOW, connected=connected, disconnected_for=gone, policy=policy, grace=10.0)
    return t.state, t.origin


@pytest.mark.parametrize("policy", list(LossPolicy))
def test_connected_follows_etcd_whatever_the_policy(policy: LossPolicy) -> None:
    assert target(ON, True, None, policy) == (ON, "etcd")
    assert target(OFF, True, None, policy) == (OFF, "etcd")


@pytest.mark.parametrize("policy", list(LossPolicy))
def test_within_the_grace_period_the_last_known_state_holds(policy: LossPolicy) -> None:
    assert target(ON, False, 9.9, policy) == (ON, "last-known")
    assert target(OFF, False, 0.0, policy) == (OFF, "last-known")


def test_last_known_holds_forever() -> None:
    assert target(ON, False, 3600.0, LossPolicy.LAST_KNOWN) == (ON, "last-known")


def test_open_serves_after_the_grace_period() -> None:
    assert target(ON, False, 10.0, LossPolicy.OPEN) == (OFF, "loss-policy")


def test_closed_enters_maintenance_after_the_grace_period() -> None:
    assert target(OFF, False, 10.0, LossPolicy.CLOSED) == (LOSS_STATE, "loss-policy")
    assert target(None, False, 30.0, LossPolicy.CLOSED) == (LOSS_STATE, "loss-policy")


def test_never_read_is_off_until_the_policy_says_otherwise() -> None:
    assert target(None, False, 1.0, LossPolicy.CLOSED) == (OFF, "none")


def test_an_expired_known_state_is_off_even_without_etcd() -> None:
    expired = MaintenanceState(enabled=True, until=NOW - timedelta(seconds=1))
    assert target(expired, False, 100.0, LossPolicy.LAST_KNOWN) == (OFF, "last-known")


def test_next_deadline_is_the_end_of_the_maintenance_or_of_the_grace() -> None:
    ending = MaintenanceState(enabled=True, until=NOW + timedelta(seconds=30))
    args = {
        "now": NOW,
        "connected": True,
        "disconnected_for": None,
        "policy": LossPolicy.CLOSED,
        "grace": 10.0,
    }
    assert next_deadline(ending, **args) == 30.0  # type: ignore[arg-type]
    assert next_deadline(ON, **args) is None  # type: ignore[arg-type]
    args.update(connected=False, disconnected_for=4.0)
    assert next_deadline(ending, **args) == 6.0  # type: ignore[arg-type]
    args.update(policy=LossPolicy.LAST_KNOWN)
    assert next_deadline(ON, **args) is None  # type: ignore[arg-type]


def test_transition_kinds() -> None:
    read_only = MaintenanceState(enabled=True, mode=Mode.READ_ONLY)
    assert transition_between(OFF, ON) is Transition.ENTER
    assert transition_between(ON, OFF) is Transition.LEAVE
    assert transition_between(ON, read_only) is Transition.SWITCH
    assert transition_between(ON, MaintenanceState(enabled=True, reason="y")) is Transition.UPDATE
    assert transition_between(ON, ON) is Transition.NONE
    assert transition_between(OFF, MaintenanceState(enabled=False, reason="z")) is Transition.UPDATE
