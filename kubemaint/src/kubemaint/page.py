"""The maintenance 503 for people: an HTML page, chosen by the request's ``Accept`` header (pure).

A request that prefers ``text/html`` (a browser) gets the page; everyone else keeps the
``application/problem+json`` of :mod:`kubemaint.admission`. Both carry the same facts: title, reason,
until when, the retry hint and the status page.

The page is a :class:`string.Template` that a deployment can replace (the service reads it from
``MAINTENANCE_PAGE_FILE``). Its placeholders, every one HTML-escaped, so a reason cannot inject markup:
``$title``, ``$detail``, ``$reason``, ``$mode``, ``$until`` (RFC 3339, or empty), ``$retry_after``
(seconds), ``$status_page`` (the URL, or empty) and ``$status_page_link`` (a ready ``<p><a ...>`` line, or
empty). A placeholder the template misspells stays as written rather than failing the answer.
"""

from __future__ import annotations

import html
from string import Template
from typing import Final

__all__ = ["DEFAULT_PAGE", "prefers_html", "render_page"]

DEFAULT_PAGE: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>$title</title>
<style>
body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;line-height:1.5}
</style>
</head>
<body>
<main>
<h1>$title</h1>
<p>$detail</p>
<p>Please try again in $retry_after seconds.</p>
$status_page_link
</main>
</body>
</html>
"""

_HTML_TYPES: Final = ("text/html", "application/xhtml+xml")
_JSON_TYPES: Final = ("application/problem+json", "application/json")


def prefers_html(accept: str | None) -> bool:
    """True when ``accept`` ranks an HTML type above every JSON type.

    Each type gets the quality of the most specific range that matches it (``text/html`` before ``text/*``
    before ``*/*``, RFC 9110 section 12.5.1). On a tie the more specific match wins, and a full tie goes to
    JSON: ``*/*`` (curl, most clients) gets JSON, a browser's ``text/html,...,*/*;q=0.8`` gets HTML.
    """
    if not accept:
        return False
    ranges = list(_ranges(accept))
    best_html = max((_quality(ranges, kind) for kind in _HTML_TYPES), default=(0.0, -1))
    best_json = max((_quality(ranges, kind) for kind in _JSON_TYPES), default=(0.0, -1))
    return best_html[0] > 0 and best_html > best_json


def render_page(template: str, document: dict[str, object]) -> bytes:
    """The page for a maintenance 503, from ``template`` and the same answer's problem document
    (:func:`kubemaint.admission.problem_document`)."""
    page = document.get("statusPage")
    link = ""
    if isinstance(page, str) and page:
        link = (
            f'<p><a href="{html.escape(page)}" rel="help">Follow the maintenance on the status page</a></p>'
        )
    fields = {
        "title": document.get("title"),
        "detail": document.get("detail"),
        "reason": document.get("reason"),
        "mode": document.get("mode"),
        "until": document.get("until") or "",
        "retry_after": document.get("retryAfter"),
        "status_page": page or "",
    }
    escaped = {name: html.escape(str(value if value is not None else "")) for name, value in fields.items()}
    return Template(template).safe_substitute(escaped, status_page_link=link).encode("utf-8")


def _ranges(accept: str) -> list[tuple[str, float]]:
    found: list[tuple[str, float]] = []
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        if not media:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = max(0.0, min(1.0, float(value)))
                except ValueError:
                    quality = 0.0
        found.append((media.lower(), quality))
    return found


def _quality(ranges: list[tuple[str, float]], kind: str) -> tuple[float, int]:
    """(quality, specificity) of ``kind`` under ``ranges``: the most specific matching range decides."""
    major = kind.split("/", 1)[0]
    best: tuple[int, float] | None = None
    for media, quality in ranges:
        if media == kind:
            specificity = 2
        elif media == f"{major}/*":
            specificity = 1
        elif media == "*/*":
            specificity = 0
        else:
            continue
        if best is None or specificity > best[0] or (specificity == best[0] and quality > best[1]):
            best = (specificity, quality)
    return (0.0, -1) if best is None else (best[1], best[0])
