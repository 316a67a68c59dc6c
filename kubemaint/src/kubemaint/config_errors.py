"""One clear line for a configuration that failed validation, shared by every kubemaint process.

Pure: it takes pydantic's error dictionaries (``ValidationError.errors()``) without importing pydantic,
so the library core stays free of it. Each error names the environment variable, says what is wrong and
shows the value given, except for secrets, whose values are never shown.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

__all__ = ["describe_errors"]


def describe_errors(errors: Iterable[Mapping[str, Any]], secret_fields: Collection[str] = ()) -> str:
    """``DB_PORT: Input should be a valid integer (got 'abc'); ...`` for validation errors of settings."""
    parts: list[str] = []
    for item in errors:
        message = str(item["msg"]).removeprefix("Value error, ")
        field = str(item["loc"][0]) if item["loc"] else ""
        if not field:
            parts.append(message)
            continue
        shown = "" if field in secret_fields else f" (got {item['input']!r})"
        parts.append(f"{field.upper()}: {message}{shown}")
    return "; ".join(parts)
