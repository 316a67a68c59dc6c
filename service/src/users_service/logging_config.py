"""Logging for the ``users-service`` entry point: JSON lines in clusters, plain text locally.

Configured once, by :func:`configure_logging`, from ``LOG_LEVEL`` and ``LOG_FORMAT``. uvicorn is run with
``log_config=None`` so its loggers (``uvicorn.error``, ``uvicorn.access``) go through the same handler.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Literal

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _JsonLinesFormatter

__all__ = ["JsonFormatter", "configure_logging"]


_RENAMED = {"asctime": "time", "levelname": "level", "name": "logger", "exc_info": "exception"}


class JsonFormatter(_JsonLinesFormatter):
    """One JSON object per line (python-json-logger): ``time`` (UTC, ISO 8601), ``level``, ``logger``,
    ``message``, the ``extra=`` fields, and ``exception``. uvicorn's ``color_message`` is left out."""

    def __init__(self) -> None:
        super().__init__(
            ["asctime", "levelname", "name", "message"],
            rename_fields=_RENAMED,
            reserved_attrs=[*RESERVED_ATTRS, "color_message"],
            json_ensure_ascii=False,
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def configure_logging(level: str, fmt: Literal["json", "console"]) -> None:
    """Send every logger to stderr in the chosen format, replacing earlier handlers."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
