"""The 503 for people and for machines (negotiation, the page, escaping, the status page), and the paths a
maintenance covers."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubemaint.admission import decide, problem_document
from kubemaint.asgi import MaintenanceMiddleware
from kubemaint.page import prefers_html, render_page
from kubemaint.state import MaintenanceState, StateParseError, covers, encode, merge, parse

from tests.support.asgi import StateView, app_ok, call

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
PAGE = "https://status.example.com/incidents/42"
STATE = MaintenanceState(enabled=True, reason="Postgres 16 upgrade", retry_after=300, status_page=PAGE)
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (BROWSER, True),
        ("text/html", True),
        ("application/xhtml+xml", True),
        ("text/*", True),
        ("*/*", False),  # curl and most clients: a tie goes to JSON
        (None, False),
        ("", False),
        ("application/json", False),
        ("application/problem+json, text/html;q=0.5", False),
        ("text/html;q=0.5, application/json;q=0.9", False),
        ("text/html;q=0, */*", False),
        ("text/html;q=0.9, */*;q=0.9", True),  # the more specific match wins a tie of qualities
        ("TEXT/HTML", True),
        ("text/html;q=bogus, */*;q=0.1", False),
    ],
)
def test_html_only_for_clients_that_prefer_it(accept: str | None, html: bool) -> None:
    assert prefers_html(accept) is html


def test_the_page_escapes_every_field_so_a_reason_cannot_inject_markup() -> None:
    evil = replace(STATE, reason='<script>alert("x")</script>', status_page=None)
    page = render_page("<p>$reason</p><p>$detail</p>$status_page_link", problem_document(evil, NOW)).decode()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "<a " not in page, "no status page, no link"


def test_the_page_names_the_retry_the_end_and_the_status_page() -> None:
    state = replace(STATE, until=NOW + timedelta(hours=1))
    page = render_page(
        "$title|$until|$retry_after|$status_page|$status_page_link|$nosuch", problem_document(state, NOW)
    )
    title, until, retry, url, link, unknown = page.decode().split("|")
    assert (title, until, retry, url) == ("Service under maintenance", "2026-12-01T03:00:00Z", "300", PAGE)
    assert f'href="{PAGE}"' in link
    assert unknown == "$nosuch", "a misspelt placeholder stays as written"


def test_status_page_round_trips_and_merges_to_the_first_in_order() -> None:
    assert parse(encode(STATE)).status_page == PAGE
    assert "statusPage" not in encode(replace(STATE, status_page=None)), "absent stays absent"
    other = replace(STATE, status_page="https://a.example.com/")
    assert merge([STATE, other], NOW).status_page == "https://a.example.com/"
    assert merge([STATE, replace(STATE, status_page=None)], NOW).status_page == PAGE


@pytest.mark.parametrize(
    "page",
    [
        "ftp://x",
        "javascript:alert(1)",
        "https://x/ y",
        'https://x/"',
        "https://x/<b>",
        7,
        "https://" + "x" * 2050,
    ],
)
def test_a_status_page_that_is_not_a_plain_http_url_is_refused(page: Any) -> None:
    with pytest.raises(StateParseError, match="statusPage"):
        parse(json.dumps({"enabled": True, "statusPage": page}))


async def test_a_browser_gets_the_page_with_the_same_headers_as_a_machine() -> None:
    middleware = MaintenanceMiddleware(app_ok, StateView(STATE))
    status, headers, body = await call(middleware, "GET", "/users", [(b"accept", BROWSER.encode())])
    assert status == 503
    assert headers[b"content-type"] == b"text/html; charset=utf-8"
    assert (headers[b"retry-after"], headers[b"x-maintenance"]) == (b"300", b"on")
    assert headers[b"link"] == f'<{PAGE}>; rel="help"'.encode()
    assert headers[b"vary"] == b"Accept"
    text = body.decode()
    assert "<title>Service under maintenance</title>" in text
    assert "Postgres 16 upgrade" in text
    assert f'href="{PAGE}"' in text
    status, headers, body = await call(middleware, "GET", "/users", [(b"accept", b"*/*")])
    assert headers[b"content-type"] == b"application/problem+json"
    assert headers[b"link"] == f'<{PAGE}>; rel="help"'.encode()
    assert json.loads(body)["statusPage"] == PAGE


async def test_a_deployment_page_template_replaces_the_default() -> None:
    middleware = MaintenanceMiddleware(app_ok, StateView(STATE), page_template="<h1>Back soon: $reason</h1>")
    _, headers, body = await call(middleware, "POST", "/users", [(b"accept", b"text/html")])
    assert body == b"<h1>Back soon: Postgres 16 upgrade</h1>"
    assert headers[b"content-length"] == str(len(body)).encode()


async def test_no_status_page_no_link_header() -> None:
    middleware = MaintenanceMiddleware(app_ok, StateView(replace(STATE, status_page=None)))
    _, headers, body = await call(middleware, "GET", "/users")
    assert b"link" not in headers
    assert "statusPage" not in json.loads(body)


@pytest.mark.parametrize(
    ("paths", "path", "covered"),
    [
        (None, "/anything", True),
        (("/users",), "/users", True),
        (("/users",), "/users/7", True),
        (("/users",), "/users/", True),
        (("/users",), "/usersx", False),
        (("/users",), "/", False),
        (("/users/",), "/users/7", True),
        (("/users/*/orders",), "/users/7/orders", True),
        (("/users/*/orders",), "/users/7/orders/1", True),
        (("/users/*/orders",), "/users/7", False),
        (("/users/*/orders",), "/users/7/invoices", False),
        (("/",), "/whatever/deep", True),
        (("/a", "/b"), "/b/1", True),
    ],
)
def test_a_path_is_a_prefix_on_segment_boundaries_with_star_for_one_segment(
    paths: tuple[str, ...] | None, path: str, covered: bool
) -> None:
    assert covers(paths, path) is covered


def test_paths_round_trip_sorted_and_merge_as_a_union_unless_one_covers_everything() -> None:
    narrow = MaintenanceState(enabled=True, paths=("/users",))
    assert parse(encode(narrow)).paths == ("/users",)
    assert parse(json.dumps({"enabled": True, "paths": ["/b", "/a", "/b"]})).paths == ("/a", "/b")
    assert "paths" not in encode(MaintenanceState(enabled=True))
    orders = replace(narrow, paths=("/orders",))
    assert merge([narrow, orders], NOW).paths == ("/orders", "/users")
    assert merge([narrow, MaintenanceState(enabled=True)], NOW).paths is None, "no paths: every path"


@pytest.mark.parametrize("paths", [[], "/users", ["users"], ["/a b"], ["/a?x=1"], [7], ["/" + "x" * 256]])
def test_paths_that_are_not_a_list_of_paths_are_refused(paths: Any) -> None:
    with pytest.raises(StateParseError, match="paths"):
        parse(json.dumps({"enabled": True, "paths": paths}))


def test_outside_its_paths_a_maintenance_serves_and_does_not_drain() -> None:
    state = MaintenanceState(enabled=True, paths=("/users/*",))
    inside = decide(state, method="GET", path="/users/7", now=NOW)
    outside = decide(state, method="GET", path="/users", now=NOW)
    assert (inside.admit, outside.admit, outside.counted) == (False, True, False)
    assert problem_document(state, NOW)["paths"] == ["/users/*"]


def test_a_start_makes_the_value_off_before_it_and_must_precede_until() -> None:
    start = NOW + timedelta(minutes=5)
    state = parse(encode(MaintenanceState(enabled=True, start=start, until=start + timedelta(hours=1))))
    assert state.start == start
    assert not state.active_at(NOW)
    assert state.at(NOW).enabled is False
    assert state.at(start).enabled is True
    assert state.at(start + timedelta(hours=1)).enabled is False
    with pytest.raises(StateParseError, match="start"):
        parse(json.dumps({"enabled": True, "start": "2026-12-01T03:00:00Z", "until": "2026-12-01T02:00:00Z"}))
