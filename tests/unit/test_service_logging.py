"""The JSON log format: one object per line, extras as fields, exceptions included, uvicorn noise dropped."""

from __future__ import annotations

import json
import logging
import sys

from users_service.logging_config import JsonFormatter


def record(message: str, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("users_service.test", logging.WARNING, __file__, 1, message, ("x",), None)
    made.__dict__.update(extra)
    return made


def test_a_record_is_one_json_line_with_its_extras() -> None:
    line = JsonFormatter().format(record("hello %s", path="/users", color_message="\x1b[36m"))
    assert "\n" not in line
    document = json.loads(line)
    assert document["message"] == "hello x"
    assert document["level"] == "WARNING"
    assert document["logger"] == "users_service.test"
    assert document["path"] == "/users"
    assert "color_message" not in document
    assert document["time"].endswith("+00:00")


def test_an_exception_is_kept_in_the_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    made = record("failed %s")
    made.exc_info = exc_info
    document = json.loads(JsonFormatter().format(made))
    assert "ValueError: boom" in document["exception"]
