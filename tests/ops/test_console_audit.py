"""The console's Audit log page against moto: a day's entries newest first,
filters, pages that give each entry once, every bad parameter a 400 that
says why, hostile text escaped, and no way to change the log from here."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import EndpointConnectionError
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from lifestyle.timeutil import utcnow
from ops_admin import audit
from tests.conftest import DynamoCalls
from tests.ops.conftest import SIGN_IN

AUDIT = "/ops/audit"
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


@pytest.fixture
def actor() -> str:
    """A staff name no other test uses: filtering by it isolates the test
    in the shared table."""
    return f"auditor-{uuid.uuid4().hex[:10]}"


def today() -> str:
    return utcnow().date().isoformat()


def entries_shown(response: Any) -> list[dict[str, Any]]:
    """The page's entries, in page order: each cell's text (unescaped) and
    the detail as pairs."""
    page = response.content.decode()
    found = []
    for row in re.findall(r'<tr class="audit-entry">(.*?)</tr>', page, re.DOTALL):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)
        text = [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split()) for cell in cells]
        detail = [
            (html.unescape(key), html.unescape(value))
            for key, value in re.findall(r"<dt>(.*?):</dt><dd>(.*?)</dd>", cells[5], re.DOTALL)
        ]
        found.append(
            {
                "time": text[0],
                "actor": text[1],
                "action": text[2],
                "target": text[3],
                "result": text[4],
                "badge": re.search(r'class="badge ([^"]*)"', cells[4]).group(1),  # type: ignore[union-attr]
                "detail": detail,
            }
        )
    return found


def link(response: Any, label: str) -> str | None:
    """The href of the link reading ``label``, if the page has one."""
    match = re.search(
        rf'<a class="button" href="([^"]*)"[^>]*>{re.escape(label)}</a>', response.content.decode()
    )
    return html.unescape(match.group(1)) if match else None


def error_text(response: Any) -> str:
    page = response.content.decode()
    match = re.search(
        r'<div class="message message-error[^"]*" role="alert">(.*?)</div>', page, re.DOTALL
    )
    assert match, page
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split())


# --- Who may look, and that nobody can write ------------------------------------------


@pytest.mark.parametrize("console", ["support_console", "admin_console"])
def test_every_staff_role_reads_the_log(
    request: pytest.FixtureRequest, console: str, actor: str
) -> None:
    browser: Client = request.getfixturevalue(console)
    audit.record(actor=actor, action="disable_user", target="alice", detail={"reason": "stolen"})

    response = browser.get(AUDIT, {"actor": actor})

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert 'aria-current="page">Audit log</a>' in response.content.decode()
    [entry] = entries_shown(response)
    assert entry["actor"] == actor
    assert (entry["action"], entry["target"], entry["result"]) == ("disable_user", "alice", "ok")
    assert entry["detail"] == [("reason", "stolen")]
    assert entry["badge"] == "badge-ok"


def test_anonymous_visitors_are_sent_to_sign_in() -> None:
    response = Client().get(AUDIT, {"actor": "someone"})

    assert response.status_code == 302
    assert response["Location"] == f"{SIGN_IN}?next=%2Fops%2Faudit%3Factor%3Dsomeone"


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_log_cannot_be_written_through_the_page(
    admin_console: Client, method: str, actor: str
) -> None:
    audit.record(actor=actor, action="enable_user", target="bob")

    response = getattr(admin_console, method)(AUDIT, {"actor": actor})

    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert [entry.action for entry in audit.entries(utcnow().date(), actor=actor).entries] == [
        "enable_user"
    ]


def test_the_console_has_no_other_audit_route() -> None:
    """The log's only route is this read-only page: no URL to edit or delete
    an entry (entries are written by audit.record, from the actions)."""

    def walk(patterns: list[Any], prefix: str = "") -> list[tuple[str, str | None]]:
        found: list[tuple[str, str | None]] = []
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                found += walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                found.append((prefix + str(pattern.pattern), pattern.name))
        return found

    from ops_admin import urls

    routes = walk(urls.urlpatterns)
    assert [name for _, name in routes if name and "audit" in name] == ["audit"]
    assert [route for route, _ in routes if route.startswith("audit")] == ["audit"]
    assert get_resolver().resolve(AUDIT).url_name == "audit"


def test_reading_writes_nothing(
    support_console: Client, dynamo_calls: DynamoCalls, actor: str
) -> None:
    audit.record(actor=actor, action="sign_in", target=actor)
    dynamo_calls.reset()

    assert support_console.get(AUDIT, {"actor": actor}).status_code == 200

    assert not set(dynamo_calls()) & WRITES, dynamo_calls()


# --- Order, filters, pages --------------------------------------------------------------


def test_newest_first(support_console: Client, actor: str) -> None:
    for action in ("sign_in", "disable_user", "enable_user", "sign_out"):
        audit.record(actor=actor, action=action, target="carol")

    response = support_console.get(AUDIT, {"actor": actor})

    shown = entries_shown(response)
    assert [entry["action"] for entry in shown] == [
        "sign_out",
        "enable_user",
        "disable_user",
        "sign_in",
    ]
    times = [entry["time"] for entry in shown]
    assert times == sorted(times, reverse=True)
    assert all(time.startswith(today()) for time in times)


def test_filters_by_action_target_and_day(support_console: Client, actor: str) -> None:
    audit.record(actor=actor, action="disable_user", target="dave", detail={"reason": "lost"})
    audit.record(actor=actor, action="enable_user", target="dave")
    audit.record(actor=actor, action="disable_user", target="erin", result="failed")

    disables = entries_shown(support_console.get(AUDIT, {"actor": actor, "action": "disable_user"}))
    assert [(e["target"], e["result"], e["badge"]) for e in disables] == [
        ("erin", "failed", "badge-bad"),
        ("dave", "ok", "badge-ok"),
    ]
    dave = entries_shown(support_console.get(AUDIT, {"actor": actor, "target": "dave"}))
    assert [e["action"] for e in dave] == ["enable_user", "disable_user"]
    today_explicitly = support_console.get(AUDIT, {"actor": actor, "day": today()})
    assert len(entries_shown(today_explicitly)) == 3
    yesterday = (utcnow().date() - timedelta(days=1)).isoformat()
    empty = support_console.get(AUDIT, {"actor": actor, "day": yesterday})
    assert empty.status_code == 200
    assert entries_shown(empty) == []
    assert "No entries match these filters on this day." in empty.content.decode()


def test_filter_values_are_trimmed_and_kept_in_the_form(
    support_console: Client, actor: str
) -> None:
    audit.record(actor=actor, action="sign_out", target=actor)

    response = support_console.get(AUDIT, {"actor": f"  {actor} ", "action": "sign_out"})

    assert len(entries_shown(response)) == 1
    page = response.content.decode()
    assert f'value="  {actor} "' in page
    assert '<option value="sign_out" selected>' in page


def test_refused_results_are_amber(support_console: Client, actor: str) -> None:
    audit.record(actor=actor, action="sign_in_failed", target=actor, result="refused")

    [entry] = entries_shown(support_console.get(AUDIT, {"actor": actor}))

    assert (entry["result"], entry["badge"]) == ("refused", "badge-warn")
    assert entry["detail"] == []


def test_pages_give_each_entry_once_then_newest_goes_back(
    support_console: Client, actor: str
) -> None:
    written = [
        audit.record(actor=actor, action="disable_user", target=f"user-{n}") for n in range(7)
    ]

    seen, pages, url = [], 0, f"{AUDIT}?actor={actor}&limit=3"
    first = None
    while url:
        response = support_console.get(url)
        assert response.status_code == 200
        first = first or response
        shown = entries_shown(response)
        seen += [entry["target"] for entry in shown]
        pages += 1
        next_url = link(response, "Next page")
        if pages > 1:
            assert link(response, "Newest") == f"{AUDIT}?actor={actor}&limit=3"
        if next_url:
            query = parse_qs(urlsplit(next_url).query)
            assert query["actor"] == [actor]
            assert query["limit"] == ["3"]
            assert query["cursor"][0].startswith(today() + "T")
        url = next_url or ""

    assert pages == 3
    assert seen == [entry.target for entry in reversed(written)]
    assert first is not None
    assert link(first, "Newest") is None


def test_page_size_defaults_to_25(support_console: Client, actor: str) -> None:
    for n in range(26):
        audit.record(actor=actor, action="enable_user", target=f"t{n}")

    response = support_console.get(AUDIT, {"actor": actor})

    assert len(entries_shown(response)) == 25
    assert link(response, "Next page") is not None
    last = support_console.get(link(response, "Next page") or "")
    assert [entry["target"] for entry in entries_shown(last)] == ["t0"]
    assert link(last, "Next page") is None
    assert "No more entries." not in last.content.decode()
    assert (
        support_console.get(AUDIT, {"actor": actor, "limit": str(audit.MAX_PAGE)}).status_code
        == 200
    )


def test_day_links(support_console: Client) -> None:
    response = support_console.get(AUDIT, {"actor": "x y"})
    yesterday = (utcnow().date() - timedelta(days=1)).isoformat()

    assert link(response, "← Previous day") == f"{AUDIT}?day={yesterday}&actor=x+y"
    assert link(response, "Next day →") is None
    assert link(response, "Today") is None

    before = support_console.get(AUDIT, {"day": yesterday, "actor": "x y", "limit": "5"})
    assert link(before, "Next day →") == f"{AUDIT}?day={today()}&actor=x+y&limit=5"
    assert link(before, "Today") == f"{AUDIT}?actor=x+y&limit=5"


def test_every_day_about_one_target(support_console: Client, actor: str) -> None:
    target = f"target-{actor}"
    long_ago = datetime(2020, 2, 2, 10, 0, tzinfo=UTC)
    with mock.patch("ops_admin.audit.utcnow", return_value=long_ago):  # an older day's entry
        audit.record(actor=actor, action="disable_user", target=target)
    audit.record(actor=actor, action="enable_user", target=target)

    today_only = entries_shown(support_console.get(AUDIT, {"target": target}))
    assert [entry["action"] for entry in today_only] == ["enable_user"]
    about = support_console.get(AUDIT, {"target": target, "every_day": "1"})
    assert about.status_code == 200
    assert [entry["action"] for entry in entries_shown(about)] == ["enable_user", "disable_user"]
    assert "every day" in about.content.decode()
    assert link(about, "← Previous day") is None


def test_target_and_actor_link_to_their_entries(support_console: Client, actor: str) -> None:
    target = "Zoë 🏃 <b>"
    audit.record(actor=actor, action="disable_user", target=target)

    page = support_console.get(AUDIT, {"actor": actor}).content.decode()

    hrefs = [
        html.unescape(href)
        for href in re.findall(r'<td class="audit-target"><a href="([^"]*)"', page)
    ]
    assert len(hrefs) == 1
    assert parse_qs(urlsplit(hrefs[0]).query) == {"target": [target], "every_day": ["1"]}
    about = support_console.get(hrefs[0])
    assert [entry["target"] for entry in entries_shown(about)] == [target]
    actor_href = html.unescape(re.findall(r'<td class="audit-actor"><a href="([^"]*)"', page)[0])
    assert parse_qs(urlsplit(actor_href).query) == {"actor": [actor], "day": [today()]}


# --- Hostile and unusual text -------------------------------------------------------------


def test_hostile_text_is_escaped(support_console: Client, actor: str) -> None:
    audit.record(
        actor=actor,
        action="disable_user",
        target='<script>alert("t")</script>',
        detail={"<img src=x onerror=alert(1)>": '"><script>alert(2)</script>'},
    )

    response = support_console.get(AUDIT, {"actor": actor})

    page = response.content.decode()
    assert "<script>" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;" in page
    [entry] = entries_shown(response)
    assert entry["target"] == '<script>alert("t")</script>'
    assert entry["detail"] == [("<img src=x onerror=alert(1)>", '"><script>alert(2)</script>')]


def test_hostile_filter_values_are_escaped_in_the_form_and_messages(
    support_console: Client,
) -> None:
    response = support_console.get(
        AUDIT, {"target": '"><script>x</script>', "action": "<script>y</script>"}
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert "<script>" not in page
    assert 'value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;"' in page
    assert "Unknown action '<script>y</script>'" in error_text(response)


def test_unicode_targets_and_details(support_console: Client, actor: str) -> None:
    target = "Zoë 🏃‍♀️ 北京"
    audit.record(actor=actor, action="enable_user", target=target, detail={"raison": "déjà vu ✓"})

    by_target = support_console.get(AUDIT, {"actor": actor, "target": target})

    [entry] = entries_shown(by_target)
    assert entry["target"] == target
    assert entry["detail"] == [("raison", "déjà vu ✓")]
    assert entries_shown(support_console.get(AUDIT, {"actor": actor, "target": "Zoe"})) == []


@pytest.mark.parametrize(
    "query_string",
    [
        "actor=%00",
        "target=%ED%A0%80",  # not UTF-8: Django reads it as U+FFFD
        "target=%F0%9F%8F%83&action=",
        "actor=&target=&action=&limit=&day=&cursor=&every_day=",
        "action=sign_in&action=sign_out",
        "limit=0005",
    ],
)
def test_odd_but_valid_queries_are_answered(support_console: Client, query_string: str) -> None:
    response = support_console.get(f"{AUDIT}?{query_string}")

    assert response.status_code == 200


def test_an_empty_day_says_so(support_console: Client, actor: str) -> None:
    response = support_console.get(AUDIT, {"actor": actor})

    assert response.status_code == 200
    assert "No entries match these filters on this day." in response.content.decode()
    assert link(response, "Next page") is None


# --- Bad parameters: a 400 that says why, never a 500 -------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"day": "yesterday"}, "Day: A date like "),
        ({"day": "2026-02-30"}, "not '2026-02-30'"),
        ({"day": "2026-1-5"}, "not '2026-1-5'"),
        ({"day": "\uff12\uff10\uff12\uff16-01-01"}, "Day: A date like"),
        ({"day": "9999-12-31"}, "is after today"),
        ({"day": "1999-12-31"}, "The log begins after 2000-01-01"),
        ({"day": "0001-01-01"}, "The log begins after 2000-01-01"),
        ({"action": "drop_table"}, "Action: Unknown action 'drop_table': choose one"),
        ({"limit": "0"}, "Per page: A whole number from 1 to 200 is needed, not '0'"),
        ({"limit": "201"}, "not '201'"),
        ({"limit": "-1"}, "not '-1'"),
        ({"limit": "ten"}, "not 'ten'"),
        ({"limit": "1e3"}, "not '1e3'"),
        ({"limit": "٣"}, "not '٣'"),
        ({"limit": "9" * 5000}, "A whole number from 1 to 200"),
        ({"limit": "000"}, "not '000'"),
        ({"cursor": "nope"}, "Page: Not a cursor this log gave out."),
        ({"cursor": "2026-01-01T00:00:00.000000Z#' OR 1=1"}, "Page:"),
        ({"actor": "a" * 501}, "Actor: At most 500 characters (this is 501)"),
        ({"target": "t" * 501}, "Target: At most 500 characters"),
        ({"every_day": "yes", "target": "x"}, "Every day: Either 1 or nothing, not 'yes'"),
        ({"every_day": "1"}, "Searching every day needs a target"),
        ({"every_day": "1", "target": "x", "actor": "y"}, "clear the actor and action filters"),
        ({"every_day": "1", "target": "x", "cursor": "bad"}, "Not a cursor this log gave out."),
    ],
)
def test_bad_parameters_are_a_400_saying_why(
    support_console: Client, params: dict[str, str], message: str
) -> None:
    response = support_console.get(AUDIT, params)

    assert response.status_code == 400
    assert message in error_text(response)
    assert entries_shown(response) == []
    assert "Nothing shown: see above." in response.content.decode()
    assert 'action="/ops/audit"' in response.content.decode()  # the form, to correct it


def test_a_cursor_from_another_day_is_refused(support_console: Client, actor: str) -> None:
    for n in range(3):
        audit.record(actor=actor, action="sign_in", target=f"x{n}")
    first = support_console.get(AUDIT, {"actor": actor, "limit": "2"})
    cursor = parse_qs(urlsplit(link(first, "Next page") or "").query)["cursor"][0]
    yesterday = (utcnow().date() - timedelta(days=1)).isoformat()

    response = support_console.get(AUDIT, {"actor": actor, "day": yesterday, "cursor": cursor})

    assert response.status_code == 400
    assert f"This next-page link belongs to {today()}, not {yesterday}" in error_text(response)


def test_several_bad_parameters_are_all_named(support_console: Client) -> None:
    response = support_console.get(AUDIT, {"day": "x", "action": "y", "limit": "z"})

    assert response.status_code == 400
    text = error_text(response)
    assert "Day:" in text
    assert "Action:" in text
    assert "Per page:" in text


def test_an_unreachable_table_is_a_503_not_a_500(support_console: Client) -> None:
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def no_queries(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if operation == "Query":
            raise EndpointConnectionError(endpoint_url="http://dynamodb.invalid")
        return original(self, operation, params)

    with mock.patch.object(BaseClient, "_make_api_call", no_queries):
        response = support_console.get(AUDIT)

    assert response.status_code == 503
    assert error_text(response) == (
        "The audit log could not be read: EndpointConnectionError: Could not connect to the "
        'endpoint URL: "http://dynamodb.invalid". Try again in a minute.'
    )
