"""The per-tick timer success lines are dropped; everything else kopf logs is kept."""

from __future__ import annotations

import logging

import pytest
from kubemaint_operator.logfilter import TimerSuccessFilter


@pytest.mark.parametrize(
    ("level", "message", "kept"),
    [
        (logging.INFO, "Timer 'drift' succeeded.", False),
        (logging.ERROR, "Timer 'drift' failed with an exception. Will retry.", True),
        (logging.INFO, "Handler 'apply_maintenance' succeeded.", True),
        (logging.WARNING, "Timer 'drift' succeeded.", True),
    ],
)
def test_only_timer_success_lines_are_dropped(level: int, message: str, kept: bool) -> None:
    record = logging.LogRecord("kopf.objects", level, __file__, 1, message, None, None)
    assert TimerSuccessFilter().filter(record) is kept
