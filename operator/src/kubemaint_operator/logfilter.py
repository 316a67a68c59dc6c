"""Quiet kopf's per-tick success lines for the one-second timers (three per object per second otherwise).

Failures, retries and every other handler's outcome are still logged.
"""

from __future__ import annotations

import logging
import re

__all__ = ["TimerSuccessFilter", "install"]

_TIMER_SUCCESS = re.compile(r"^Timer '[^']+' succeeded\.$")


class TimerSuccessFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.INFO and _TIMER_SUCCESS.match(str(record.msg)))


def install() -> None:
    """Attach the filter to kopf's object logger once (idempotent)."""
    logger = logging.getLogger("kopf.objects")
    if not any(isinstance(f, TimerSuccessFilter) for f in logger.filters):
        logger.addFilter(TimerSuccessFilter())
