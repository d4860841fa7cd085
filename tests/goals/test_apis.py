"""The goals API through HTTP (DRF's APIClient), against moto's DynamoDB
and real Cognito tokens from moto's user pool."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from goals.models import Goal
from lifestyle.dynamo import goal_sk, user_pk
from tests.conftest import DynamoCalls, User, assert_error
from tests.goals.conftest import CALENDAR, FAR_ZONES, todays_around

GOALS = "/api/v1/goals"
VALID = {"title": "Read books", "kind": "count", "target": "12"}
MISSING = object()  # a field left out of the body


def url(goal_id: str, action: str = "") -> str:
    return f"{GOALS}/{goal_id}" + (f"/{action}" if action else "")


def body_with(**changes: Any) -> dict[str, Any]:
    body = {**VALID, **changes}
    return {name: value for name, value in body.items() if value is not MISSING}


def post_raw(client: APIClient, raw: bytes, content_type: str = "application/json") -> Any:
    return client.generic("POST", GOALS, raw, content_type=content_type)


def without(mapping: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: value for name, value in mapping.items() if name not in names}


def when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


@pytest.fixture
def create(api: APIClient) -> Callable[..., dict[str, Any]]:
    """Create a goal (``VALID`` with changes) as ``user`` unless told; its body."""

    def make(client: APIClient | None = None, **changes: Any) -> dict[str, Any]:
        response = (client or api).post(GOALS, body_with(**changes), format="json")
        assert response.status_code == 201, response.content
        return response.json()

    return make


@pytest.fixture
def goal(create: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return create()


def patch(client: APIClient, goal_id: str, body: Any, if_match: str | None = '"1"') -> Any:
    headers = {} if if_match is None else {"HTTP_IF_MATCH": if_match}
    return client.patch(url(goal_id), body, format="json", **headers)


def post_action(client: APIClient, goal_id: str, action: str, if_match: str | None = None) -> Any:
    headers = {} if if_match is None else {"HTTP_IF_MATCH": if_match}
    return client.post(url(goal_id, action), **headers)


def list_goals(client: APIClient, **params: Any) -> Any:
    return client.get(GOALS, params)


def listed_ids(client: APIClient, **params: Any) -> list[str]:
    response = list_goals(client, **params)
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


def stored(user: User, goal_id: str) -> Goal:
    return Goal.get(user_pk(user.user_id), goal_sk(goal_id))


# --- create ----------------------------------------------------------------------------


def test_create(api: APIClient, user: User) -> None:
    response, todays = todays_around(
        "UTC", lambda: api.post(GOALS, body_with(title="  Read books \t"), format="json")
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert response["ETag"] == '"1"'
    assert response["Location"] == f"http://testserver{GOALS}/{body['id']}"
    assert "Idempotent-Replayed" not in response
    assert body["start_date"] in todays
    assert without(body, "id", "start_date", "created_at", "updated_at") == {
        "title": "Read books",
        "description": "",
        "category": "",
        "kind": "count",
        "unit": "",
        "target": "12",
        "period": "none",
        "due_date": None,
        "timezone": "UTC",
        "week_start": "monday",
        "day_start_hour": 0,
        "status": "active",
        "archived_at": None,
        "version": 1,
    }
    assert body["created_at"] == body["updated_at"]
    assert body["created_at"].endswith("Z")
    item = stored(user, body["id"])
    assert (item.title, item.target, item.version, item.user_id) == (
        "Read books",
        Decimal(12),
        1,
        user.user_id,
    )
    fetched = api.get(response["Location"])
    assert (fetched.status_code, fetched.json()) == (200, body)


@pytest.mark.parametrize("zone", [*FAR_ZONES, "UTC"])
def test_create_starts_today_in_the_goals_timezone(create: Callable, zone: str) -> None:
    body, todays = todays_around(zone, lambda: create(timezone=zone))
    assert body["start_date"] in todays
    assert body["timezone"] == zone


def test_create_with_every_field(create: Callable, user: User) -> None:
    fields = {
        "title": "Run",
        "description": "  keep my spaces  ",
        "category": "fitness",
        "kind": "duration",
        "unit": "min",
        "target": 30,
        "period": "weekly",
        "start_date": "2030-01-01",
        "due_date": "2030-01-01",
        "timezone": "Europe/Paris",
    }
    body = create(**fields)
    assert {name: body[name] for name in fields} == {**fields, "target": "30"}
    assert stored(user, body["id"]).description == "  keep my spaces  "


@pytest.mark.parametrize(
    ("kind", "target", "shown"),
    [
        ("amount", "0.1", "0.1"),
        ("amount", 0.1, "0.1"),
        ("amount", "12.5", "12.5"),
        ("amount", "0.0001", "0.0001"),
        ("count", "100.0000", "100"),
        ("count", 100.0, "100"),
        ("count", "1E+2", "100"),
        ("count", "99999999999", "99999999999"),
        ("habit", None, None),
    ],
)
def test_target_is_an_exact_decimal(
    create: Callable, user: User, kind: str, target: Any, shown: str | None
) -> None:
    body = create(kind=kind, target=target)
    assert body["target"] == shown
    assert stored(user, body["id"]).target == (None if shown is None else Decimal(shown))


@pytest.mark.parametrize(
    "title",
    [
        "Run 🏃‍♀️ every 🌅",
        "قراءة الكتب",
        "e\u0301te\u0301 \u200fmixed\u200e",
        "日本語のタイトル",
        "🏃" * 200,
    ],
)
def test_unicode_titles_are_kept_exactly(create: Callable, user: User, title: str) -> None:
    body = create(title=title)
    assert body["title"] == title
    assert stored(user, body["id"]).title == title


def test_a_number_title_is_taken_as_text(api: APIClient) -> None:
    response = api.post(GOALS, body_with(title=123), format="json")
    assert response.status_code in (201, 400), response.content
    if response.status_code == 201:
        assert response.json()["title"] == "123"


# --- idempotent create ------------------------------------------------------------------


@pytest.fixture
def client_id() -> str:
    return str(uuid.uuid4())


def test_a_retried_create_returns_the_same_goal(
    api: APIClient, create: Callable, client_id: str
) -> None:
    first = create(id=client_id)
    assert first["id"] == client_id
    again = api.post(GOALS, body_with(id=client_id), format="json")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again["ETag"] == '"1"'
    assert again["Location"].endswith(url(client_id))
    assert again.json() == first
    assert listed_ids(api) == [client_id]


@pytest.mark.parametrize("spelling", [str.upper, lambda text: text.replace("-", "")])
def test_a_retry_may_spell_the_uuid_differently(
    api: APIClient, create: Callable, client_id: str, spelling: Callable[[str], str]
) -> None:
    first = create(id=client_id)
    again = api.post(GOALS, body_with(id=spelling(client_id)), format="json")
    assert (again.status_code, again.json()) == (201, first)
    assert again["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(
    "changes", [{"title": "Another title"}, {"target": "13"}, {"due_date": "2099-01-01"}]
)
def test_a_different_create_with_a_used_id_conflicts(
    api: APIClient, user: User, create: Callable, client_id: str, changes: dict
) -> None:
    create(id=client_id)
    response = api.post(GOALS, body_with(id=client_id, **changes), format="json")
    assert_error(response, 409, "conflict")
    assert stored(user, client_id).title == VALID["title"]
    assert listed_ids(api) == [client_id]


def test_each_user_has_their_own_ids(
    api: APIClient, create: Callable, other_user: User, client_id: str
) -> None:
    create(id=client_id)
    theirs = other_user.client().post(GOALS, body_with(id=client_id, title="Theirs"), format="json")
    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs
    assert api.get(url(client_id)).json()["title"] == VALID["title"]
    assert other_user.client().get(url(client_id)).json()["title"] == "Theirs"


# --- bad input -----------------------------------------------------------------------

BAD_FIELDS = [
    ({"title": MISSING}, "title"),
    ({"kind": MISSING}, "kind"),
    ({"title": ""}, "title"),
    ({"title": " \t\n "}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"title": None}, "title"),
    ({"title": ["Read"]}, "title"),
    ({"title": {"text": "Read"}}, "title"),
    ({"title": True}, "title"),
    ({"title": "Read\x00books"}, "title"),
    ({"description": "x" * 2001}, "description"),
    ({"description": None}, "description"),
    ({"description": ["x"]}, "description"),
    ({"category": "x" * 51}, "category"),
    ({"unit": "x" * 31}, "unit"),
    ({"kind": "marathon"}, "kind"),
    ({"kind": ""}, "kind"),
    ({"kind": ["count"]}, "kind"),
    ({"kind": None}, "kind"),
    ({"period": "hourly"}, "period"),
    ({"target": 0}, "target"),
    ({"target": "0"}, "target"),
    ({"target": -1}, "target"),
    ({"target": "-0.5"}, "target"),
    ({"target": "abc"}, "target"),
    ({"target": True}, "target"),
    ({"target": "NaN"}, "target"),
    ({"target": "Infinity"}, "target"),
    ({"target": "1234567890123456"}, "target"),
    ({"target": 1e20}, "target"),
    ({"target": "0.00001"}, "target"),
    ({"target": [5]}, "target"),
    ({"target": MISSING}, "target"),
    ({"target": None}, "target"),
    ({"kind": "amount", "target": MISSING}, "target"),
    ({"kind": "duration", "target": MISSING}, "target"),
    ({"kind": "count", "target": "2.5"}, "target"),
    ({"kind": "duration", "target": 2.5}, "target"),
    ({"start_date": "2030-01-10", "due_date": "2030-01-09"}, "due_date"),
    # Before today, the default start: known without reading the profile
    # only when the create names its calendar.
    ({"due_date": "2000-01-01", **CALENDAR}, "due_date"),
    ({"start_date": "2030-02-30"}, "start_date"),
    ({"start_date": "yesterday"}, "start_date"),
    ({"start_date": "2030-01-01T00:00:00Z"}, "start_date"),
    ({"start_date": 20300101}, "start_date"),
    ({"start_date": None}, "start_date"),
    ({"due_date": "01/02/2030"}, "due_date"),
    ({"timezone": "Mars/Base"}, "timezone"),
    ({"timezone": "../etc/passwd"}, "timezone"),
    ({"timezone": "/etc/localtime"}, "timezone"),
    ({"timezone": "localtime"}, "timezone"),
    ({"timezone": "utc"}, "timezone"),
    ({"timezone": ""}, "timezone"),
    ({"timezone": None}, "timezone"),
    ({"timezone": ["UTC"]}, "timezone"),
    ({"id": "not-a-uuid"}, "id"),
    ({"id": 123}, "id"),
    ({"id": None}, "id"),
    ({"titel": "Read books"}, "titel"),
    ({"status": "active"}, "status"),
    ({"status": "archived"}, "status"),
    ({"created_at": "2030-01-01T00:00:00Z"}, "created_at"),
    ({"updated_at": "2030-01-01T00:00:00Z"}, "updated_at"),
    ({"archived_at": None}, "archived_at"),
    ({"version": 7}, "version"),
]


def case_id(changes: dict[str, Any], field: str) -> str:
    value = changes.get(field, MISSING)
    return f"{field}=" + ("missing" if value is MISSING else repr(value)[:24])


@pytest.mark.parametrize(
    ("changes", "field"), BAD_FIELDS, ids=[case_id(*case) for case in BAD_FIELDS]
)
def test_bad_fields_are_refused_by_name(
    api: APIClient, dynamo_calls: DynamoCalls, changes: dict, field: str
) -> None:
    response = api.post(GOALS, body_with(**changes), format="json")
    assert_error(response, 400, "validation_error", field)
    assert dynamo_calls() == {}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"titel": "x"}, "Unknown field."),
        ({"status": "active"}, "This field is read-only."),
        ({"version": 1}, "This field is read-only."),
    ],
)
def test_unknown_and_read_only_fields_are_told_apart(
    api: APIClient, changes: dict, message: str
) -> None:
    error = assert_error(
        api.post(GOALS, body_with(**changes), format="json"), 400, "validation_error"
    )
    assert error["fields"] == {name: [message] for name in changes}


@pytest.mark.parametrize(
    ("kind", "target"),
    [("habit", MISSING), ("habit", None), ("amount", "2.5"), ("count", "2.0"), ("habit", 3)],
)
def test_target_rules_by_kind_that_pass(create: Callable, kind: str, target: Any) -> None:
    assert create(kind=kind, target=target)["kind"] == kind


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"title": "\\ud800", "kind": "habit"}', "title"),
        (b'{"title": "Read\\ud83c", "kind": "habit"}', "title"),
        (b'{"title": "Read", "kind": "habit", "description": "\\udfff"}', "description"),
        (b'{"title": "Read", "kind": "\\ud800"}', "kind"),
        (b'{"title": "Read", "kind": "habit", "\\ud800": 1}', "\\ud800"),
        (b'{"title": "Read\\u0000", "kind": "habit"}', "title"),
    ],
)
def test_unencodable_text_is_refused(
    api: APIClient, dynamo_calls: DynamoCalls, raw: bytes, field: str
) -> None:
    assert_error(post_raw(api, raw), 400, "validation_error", field)
    assert dynamo_calls() == {}


def test_emoji_as_an_escaped_surrogate_pair_is_fine(api: APIClient) -> None:
    response = post_raw(api, b'{"title": "Run \\ud83c\\udfc3", "kind": "habit"}')
    assert response.status_code == 201, response.content
    assert response.json()["title"] == "Run 🏃"


@pytest.mark.parametrize(
    "raw", [b"[]", b'[{"title": "Read", "kind": "habit"}]', b'"Read"', b"null", b"42"]
)
def test_a_body_that_is_no_json_object_is_refused(api: APIClient, raw: bytes) -> None:
    assert_error(post_raw(api, raw), 400, "validation_error")


@pytest.mark.parametrize(
    "raw", [b'{"title": ', b"{'title': 'Read'}", b'{"title": "Read", "target": NaN}', b"\xff\xfe"]
)
def test_malformed_json_is_a_parse_error(api: APIClient, raw: bytes) -> None:
    assert_error(post_raw(api, raw), 400, "parse_error")


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b"title=Read&kind=habit", "application/x-www-form-urlencoded"),
        (b"Read books", "text/plain"),
        (json.dumps(VALID).encode(), "text/plain"),
        (b"<goal/>", "application/xml"),
    ],
)
def test_non_json_bodies_are_unsupported(
    api: APIClient, dynamo_calls: DynamoCalls, raw: bytes, content_type: str
) -> None:
    assert_error(post_raw(api, raw, content_type), 415, "unsupported_media_type")
    assert dynamo_calls() == {}


def test_multipart_is_unsupported(api: APIClient) -> None:
    assert_error(api.post(GOALS, VALID), 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (json.dumps(body_with(description="x" * 70_000)).encode(), "application/json"),
        # Refused by size before its type is even looked at.
        (b"x" * (64 * 1024 + 1), "text/plain"),
    ],
)
def test_a_body_over_64_kib_is_too_large(
    api: APIClient, dynamo_calls: DynamoCalls, raw: bytes, content_type: str
) -> None:
    assert_error(post_raw(api, raw, content_type), 413, "payload_too_large")
    assert dynamo_calls() == {}


def test_a_body_just_under_64_kib_is_read(api: APIClient) -> None:
    raw = json.dumps(body_with(description="x" * 2000, category="x" * 60_000)).encode()
    assert len(raw) < 64 * 1024
    assert_error(post_raw(api, raw), 400, "validation_error", "category")


# --- get -------------------------------------------------------------------------------


def test_get(api: APIClient, goal: dict, dynamo_calls: DynamoCalls) -> None:
    dynamo_calls.reset()
    response = api.get(url(goal["id"]))
    assert (response.status_code, response.json(), response["ETag"]) == (200, goal, '"1"')
    assert dynamo_calls() == {"GetItem": 1}


@pytest.mark.parametrize("goal_id", ["01M8G6FQQKFRPAMMDXP43929VC", str(uuid.uuid4())])
def test_get_of_an_unknown_goal_is_not_found(api: APIClient, goal_id: str) -> None:
    assert_error(api.get(url(goal_id)), 404, "not_found")


@pytest.mark.parametrize(
    "goal_id",
    [
        "abc",
        "../x",
        "..%2Fx",
        "%00",
        "z" * 36,
        "01M8G6FQQKFRPAMMDXP43929V!",
        "x" * 3000,
        "GOAL%23x",
    ],
)
def test_junk_ids_are_not_found_without_asking_dynamodb(
    api: APIClient, dynamo_calls: DynamoCalls, goal_id: str
) -> None:
    assert_error(api.get(url(goal_id)), 404, "not_found")
    assert dynamo_calls() == {}


def test_another_users_goal_is_not_found(api: APIClient, other_user: User, goal: dict) -> None:
    theirs = other_user.client()
    assert_error(theirs.get(url(goal["id"])), 404, "not_found")
    assert_error(patch(theirs, goal["id"], {"title": "Mine"}), 404, "not_found")
    assert_error(patch(theirs, goal["id"], {"title": "Mine"}, "*"), 404, "not_found")
    for action in ("archive", "unarchive"):
        assert_error(post_action(theirs, goal["id"], action), 404, "not_found")
    assert listed_ids(theirs) == []
    assert api.get(url(goal["id"])).json() == goal


# --- list ------------------------------------------------------------------------------


def test_list_is_newest_first(api: APIClient, create: Callable, other_user: User) -> None:
    ids = [create(title=f"Goal {n}")["id"] for n in range(3)]
    create(client=other_user.client())
    response = list_goals(api)
    assert response.json()["next_cursor"] is None
    assert [item["id"] for item in response.json()["items"]] == ids[::-1]
    assert response.json()["items"][0] == api.get(url(ids[-1])).json()


def test_an_empty_list(api: APIClient) -> None:
    assert list_goals(api).json() == {"items": [], "next_cursor": None}


def follow(api: APIClient, dynamo_calls: DynamoCalls, **params: Any) -> list[list[str]]:
    """Every page of the list, following ``next_cursor``; one Query each."""
    pages: list[list[str]] = []
    cursor = None
    while True:
        queries = dynamo_calls().get("Query", 0)
        response = list_goals(api, **params, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.content
        assert dynamo_calls().get("Query", 0) == queries + 1
        pages.append([item["id"] for item in response.json()["items"]])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 10, "the cursor never ends"


def test_cursor_paging_visits_each_goal_once(
    api: APIClient, create: Callable, dynamo_calls: DynamoCalls
) -> None:
    ids = [create(title=f"Goal {n}")["id"] for n in range(5)]
    pages = follow(api, dynamo_calls, limit=2)
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [goal_id for page in pages for goal_id in page] == ids[::-1]


def test_limit_defaults_to_twenty(api: APIClient, create: Callable) -> None:
    for n in range(21):
        create(title=f"Goal {n}")
    assert len(listed_ids(api)) == 20
    assert len(listed_ids(api, limit=100)) == 21


@pytest.mark.parametrize("limit", ["0", "101", "-1", "x", "1.5", "1e2"])
def test_bad_limits_are_refused(api: APIClient, dynamo_calls: DynamoCalls, limit: str) -> None:
    assert_error(list_goals(api, limit=limit), 400, "validation_error", "limit")
    assert dynamo_calls() == {}


@pytest.mark.parametrize("limit", ["1", "100"])
def test_limits_at_the_bounds(api: APIClient, goal: dict, limit: str) -> None:
    assert listed_ids(api, limit=limit) == [goal["id"]]


@pytest.fixture
def cursor(api: APIClient, create: Callable) -> str:
    """A real cursor: the second page of ``user``'s active goals."""
    create(), create()
    response = list_goals(api, limit=1, status="active")
    assert response.json()["next_cursor"]
    return response.json()["next_cursor"]


def tampered(cursor: str) -> list[str]:
    middle = len(cursor) // 2
    flipped = "A" if cursor[middle] != "A" else "B"
    return [
        cursor[:middle] + flipped + cursor[middle + 1 :],
        cursor[:-1] + ("A" if cursor[-1] != "A" else "B"),
        cursor + "x",
        "x" + cursor,
        "abc",
        "e30:1u9:" + cursor.rsplit(":", 1)[-1],
        "x" * 3000,
    ]


def test_the_cursor_is_accepted_on_its_own_list(api: APIClient, cursor: str) -> None:
    assert len(listed_ids(api, limit=1, status="active", cursor=cursor)) == 1


def test_a_tampered_cursor_is_refused(
    api: APIClient, cursor: str, dynamo_calls: DynamoCalls
) -> None:
    before = dynamo_calls()
    for forged in tampered(cursor):
        response = list_goals(api, limit=1, status="active", cursor=forged)
        assert_error(response, 400, "validation_error", "cursor")
    assert dynamo_calls() == before


def test_a_cursor_is_refused_on_another_list(api: APIClient, cursor: str) -> None:
    for status in ("archived", "completed", MISSING):
        params = {"limit": 1, "cursor": cursor, "status": status}
        params = {name: value for name, value in params.items() if value is not MISSING}
        assert_error(list_goals(api, **params), 400, "validation_error", "cursor")


def test_a_cursor_is_refused_for_another_user(
    cursor: str, other_user: User, create: Callable
) -> None:
    theirs = other_user.client()
    create(client=theirs), create(client=theirs)
    response = list_goals(theirs, limit=1, status="active", cursor=cursor)
    assert_error(response, 400, "validation_error", "cursor")


def test_list_filters_by_status(api: APIClient, create: Callable) -> None:
    active, completed, archived = (create(title=name)["id"] for name in ("a", "c", "z"))
    assert patch(api, completed, {"status": "completed"}).status_code == 200
    assert post_action(api, archived, "archive").status_code == 200
    assert listed_ids(api, status="active") == [active]
    assert listed_ids(api, status="completed") == [completed]
    assert listed_ids(api, status="archived") == [archived]
    assert listed_ids(api) == [archived, completed, active]


@pytest.mark.parametrize("status", ["deleted", "ACTIVE", "active,archived"])
def test_a_bad_status_filter_is_refused(api: APIClient, status: str) -> None:
    assert_error(list_goals(api, status=status), 400, "validation_error", "status")


@pytest.mark.parametrize("name", ["limit", "status", "cursor"])
def test_an_empty_query_parameter_is_refused_by_name(
    api: APIClient, dynamo_calls: DynamoCalls, name: str
) -> None:
    """Blank is not "left out": a client that lost a value hears about it
    (the schema says so too; tests/test_fuzz.py holds the API to it)."""
    assert_error(list_goals(api, **{name: ""}), 400, "validation_error", name)
    assert dynamo_calls() == {}


def test_an_unknown_query_parameter_is_refused_by_name(api: APIClient) -> None:
    assert_error(list_goals(api, limt="5"), 400, "validation_error", "limt")


# --- update ----------------------------------------------------------------------------


def test_patch_changes_the_goal_and_its_etag(api: APIClient, user: User, goal: dict) -> None:
    response = patch(api, goal["id"], {"title": "  Read more  ", "target": "20", "unit": "books"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert response["ETag"] == '"2"'
    assert (body["title"], body["target"], body["unit"], body["version"]) == (
        "Read more",
        "20",
        "books",
        2,
    )
    assert body["created_at"] == goal["created_at"]
    assert when(body["updated_at"]) > when(goal["updated_at"])
    changed = ("title", "target", "unit", "version", "updated_at")
    assert without(body, *changed) == without(goal, *changed)
    assert stored(user, goal["id"]).title == "Read more"
    assert api.get(url(goal["id"]))["ETag"] == '"2"'


def test_patch_needs_if_match(api: APIClient, goal: dict, dynamo_calls: DynamoCalls) -> None:
    dynamo_calls.reset()
    for header in (None, "", "  "):
        assert_error(patch(api, goal["id"], {"title": "x"}, header), 428, "precondition_required")
    assert dynamo_calls() == {}


@pytest.mark.parametrize(
    "if_match", ['"2"', '"0"', "2", '"abc"', "garbage", '"99999999999999999999"']
)
def test_patch_with_a_stale_etag_fails(api: APIClient, goal: dict, if_match: str) -> None:
    assert_error(patch(api, goal["id"], {"title": "x"}, if_match), 412, "precondition_failed")
    assert api.get(url(goal["id"])).json() == goal


def test_an_etag_goes_stale_after_a_change(api: APIClient, goal: dict) -> None:
    assert patch(api, goal["id"], {"title": "First"}).status_code == 200
    assert_error(patch(api, goal["id"], {"title": "Second"}), 412, "precondition_failed")
    second = patch(api, goal["id"], {"title": "Second"}, '"2"')
    assert (second.status_code, second["ETag"]) == (200, '"3"')


@pytest.mark.parametrize("if_match", ["*", 'W/"1"', '"1", "7"'])
def test_patch_if_match_forms(api: APIClient, goal: dict, if_match: str) -> None:
    response = patch(api, goal["id"], {"title": "Any"}, if_match)
    assert (response.status_code, response.json()["version"]) == (200, 2)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "habit"}, "kind"),
        ({"period": "daily"}, "period"),
        ({"timezone": "Europe/Paris"}, "timezone"),
        ({"id": str(uuid.uuid4())}, "id"),
        ({"created_at": "2030-01-01T00:00:00Z"}, "created_at"),
        ({"version": 5}, "version"),
        ({"archived_at": None}, "archived_at"),
        ({"titel": "x"}, "titel"),
        ({"status": "archived"}, "status"),
        ({"status": "done"}, "status"),
        ({"title": ""}, "title"),
        ({"title": None}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"target": 0}, "target"),
        ({"target": "abc"}, "target"),
        ({"start_date": None}, "start_date"),
        ({"start_date": "2030-01-10", "due_date": "2030-01-09"}, "due_date"),
        ({"due_date": "soon"}, "due_date"),
    ],
)
def test_patch_refuses_bad_fields(
    api: APIClient, goal: dict, dynamo_calls: DynamoCalls, body: dict, field: str
) -> None:
    dynamo_calls.reset()
    assert_error(patch(api, goal["id"], body), 400, "validation_error", field)
    assert dynamo_calls() == {}


@pytest.mark.parametrize("body", [{}, [], "title", None])
def test_patch_needs_an_object_with_a_change(api: APIClient, goal: dict, body: Any) -> None:
    assert_error(patch(api, goal["id"], body), 400, "validation_error")


def test_patch_refuses_non_json(api: APIClient, goal: dict) -> None:
    response = api.generic(
        "PATCH",
        url(goal["id"]),
        b"title=x",
        "application/x-www-form-urlencoded",
        HTTP_IF_MATCH='"1"',
    )
    assert_error(response, 415, "unsupported_media_type")


# The goal created, the change, and the field a 400 names (None: the change is fine).
STORED_RULES = [
    ({"kind": "count"}, {"target": None}, "target"),
    ({"kind": "duration"}, {"target": None}, "target"),
    ({"kind": "habit", "target": "3"}, {"target": None}, None),
    ({"kind": "count"}, {"target": "2.5"}, "target"),
    ({"kind": "habit"}, {"target": 2.5}, "target"),
    ({"kind": "amount"}, {"target": "2.5"}, None),
    ({"start_date": "2030-01-10"}, {"due_date": "2030-01-09"}, "due_date"),
    ({"start_date": "2030-01-10"}, {"due_date": "2030-01-10"}, None),
    (
        {"start_date": "2030-01-10", "due_date": "2030-02-01"},
        {"start_date": "2030-02-02"},
        "start_date",
    ),
    ({"start_date": "2030-01-10", "due_date": "2030-02-01"}, {"start_date": "2030-02-01"}, None),
    ({"start_date": "2030-01-10", "due_date": "2030-02-01"}, {"due_date": None}, None),
    ({"start_date": "2030-01-10"}, {"start_date": "2031-01-01"}, None),
]


@pytest.mark.parametrize(("created", "change", "field"), STORED_RULES)
def test_patch_rules_that_depend_on_the_stored_goal(
    api: APIClient, create: Callable, created: dict, change: dict, field: str | None
) -> None:
    goal = create(**created)
    response = patch(api, goal["id"], change)
    if field is None:
        assert response.status_code == 200, response.content
        assert {name: response.json()[name] for name in change} == change | (
            {"target": "2.5"} if change.get("target") else {}
        )
    else:
        assert_error(response, 400, "validation_error", field)
        assert api.get(url(goal["id"])).json() == goal


def test_status_can_be_completed_and_made_active(api: APIClient, goal: dict) -> None:
    done = patch(api, goal["id"], {"status": "completed"})
    assert (done.status_code, done.json()["status"]) == (200, "completed")
    again = patch(api, goal["id"], {"status": "active"}, '"2"')
    assert (again.status_code, again.json()["status"]) == (200, "active")


def test_an_archived_goals_status_cannot_change(api: APIClient, goal: dict) -> None:
    assert post_action(api, goal["id"], "archive").status_code == 200
    for status in ("completed", "active"):
        assert_error(patch(api, goal["id"], {"status": status}, '"2"'), 409, "conflict")
    assert_error(patch(api, goal["id"], {"status": "completed"}, '"1"'), 412, "precondition_failed")
    renamed = patch(api, goal["id"], {"title": "Renamed"}, '"2"')
    assert (renamed.status_code, renamed.json()["status"]) == (200, "archived")


def test_patch_of_an_unknown_goal_is_not_found(api: APIClient) -> None:
    assert_error(patch(api, str(uuid.uuid4()), {"title": "x"}), 404, "not_found")
    assert_error(patch(api, "abc", {"title": "x"}), 404, "not_found")


# --- archive and unarchive -------------------------------------------------------------


def test_archive_and_unarchive(api: APIClient, goal: dict) -> None:
    archived = post_action(api, goal["id"], "archive")
    assert archived.status_code == 200
    assert archived["ETag"] == '"2"'
    body = archived.json()
    assert (body["status"], body["version"]) == ("archived", 2)
    assert when(body["archived_at"]) >= when(goal["created_at"])
    assert listed_ids(api, status="archived") == [goal["id"]]
    assert listed_ids(api, status="active") == []

    again = post_action(api, goal["id"], "archive")
    assert (again.status_code, again.json(), again["ETag"]) == (200, body, '"2"')

    active = post_action(api, goal["id"], "unarchive")
    assert active.status_code == 200
    assert (active.json()["status"], active.json()["archived_at"], active.json()["version"]) == (
        "active",
        None,
        3,
    )
    assert listed_ids(api, status="active") == [goal["id"]]
    unchanged = post_action(api, goal["id"], "unarchive")
    assert (unchanged.status_code, unchanged.json()) == (200, active.json())


@pytest.mark.parametrize("action", ["archive", "unarchive"])
def test_archive_with_if_match(api: APIClient, goal: dict, action: str) -> None:
    if action == "unarchive":
        post_action(api, goal["id"], "archive")
    current = f'"{api.get(url(goal["id"])).json()["version"]}"'
    assert_error(post_action(api, goal["id"], action, '"7"'), 412, "precondition_failed")
    response = post_action(api, goal["id"], action, current)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == ("archived" if action == "archive" else "active")


def test_archiving_again_with_an_old_etag_fails(api: APIClient, goal: dict) -> None:
    assert post_action(api, goal["id"], "archive", '"1"').status_code == 200
    assert_error(post_action(api, goal["id"], "archive", '"1"'), 412, "precondition_failed")
    assert post_action(api, goal["id"], "archive", '"2"').json()["version"] == 2


@pytest.mark.parametrize("action", ["archive", "unarchive"])
@pytest.mark.parametrize("goal_id", [str(uuid.uuid4()), "abc"])
def test_archive_of_an_unknown_goal_is_not_found(api: APIClient, action: str, goal_id: str) -> None:
    assert_error(post_action(api, goal_id, action), 404, "not_found")


@pytest.mark.parametrize("action", ["archive", "unarchive"])
def test_archive_takes_only_post(api: APIClient, goal: dict, action: str) -> None:
    assert_error(api.get(url(goal["id"], action)), 405, "method_not_allowed")


# --- one DynamoDB request per operation ---------------------------------------------------


def archived_goal(api: APIClient, goal: dict) -> None:
    post_action(api, goal["id"], "archive")


ONE_REQUEST = {
    # A create naming its whole calendar; without it, the profile is read too
    # (test_a_create_without_a_calendar_reads_the_profile_once).
    "create": (
        None,
        lambda api, goal: api.post(GOALS, body_with(**CALENDAR), format="json"),
        201,
        "PutItem",
    ),
    "replayed create": (
        None,
        lambda api, goal: api.post(GOALS, body_with(id=goal["id"], **CALENDAR), format="json"),
        201,
        "PutItem",
    ),
    "conflicting create": (
        None,
        lambda api, goal: api.post(
            GOALS, body_with(id=goal["id"], title="x", **CALENDAR), format="json"
        ),
        409,
        "PutItem",
    ),
    "get": (None, lambda api, goal: api.get(url(goal["id"])), 200, "GetItem"),
    "unknown get": (None, lambda api, goal: api.get(url(str(uuid.uuid4()))), 404, "GetItem"),
    "list page": (None, lambda api, goal: list_goals(api, limit=1), 200, "Query"),
    "filtered list page": (
        None,
        lambda api, goal: list_goals(api, status="archived"),
        200,
        "Query",
    ),
    "patch": (None, lambda api, goal: patch(api, goal["id"], {"title": "x"}), 200, "UpdateItem"),
    "stale patch": (
        None,
        lambda api, goal: patch(api, goal["id"], {"title": "x"}, '"9"'),
        412,
        "UpdateItem",
    ),
    "patch breaking a stored rule": (
        None,
        lambda api, goal: patch(api, goal["id"], {"target": None}),
        400,
        "UpdateItem",
    ),
    "archive": (None, lambda api, goal: post_action(api, goal["id"], "archive"), 200, "UpdateItem"),
    "already archived": (
        archived_goal,
        lambda api, goal: post_action(api, goal["id"], "archive"),
        200,
        "UpdateItem",
    ),
    "unarchive": (
        archived_goal,
        lambda api, goal: post_action(api, goal["id"], "unarchive"),
        200,
        "UpdateItem",
    ),
}


@pytest.mark.parametrize("operation", ONE_REQUEST)
def test_each_operation_is_one_dynamodb_request(
    api: APIClient,
    create: Callable,
    client_id: str,
    dynamo_calls: DynamoCalls,
    operation: str,
) -> None:
    setup, call, status, expected = ONE_REQUEST[operation]
    goal = create(id=client_id, **CALENDAR)
    if setup:
        setup(api, goal)
    dynamo_calls.reset()
    response = call(api, goal)
    assert response.status_code == status, response.content
    assert dynamo_calls() == {expected: 1}


# --- errors API-wide -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/",
        "/api/v1/nothing",
        "/api/v1/goals/",
        "/api/v2/goals",
        "/",
        "/admin/",
        "/api/v1/health/",
    ],
)
def test_unknown_urls_are_json_404s(api: APIClient, anonymous: APIClient, path: str) -> None:
    for client in (api, anonymous):
        assert_error(client.get(path), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("delete", GOALS),
        ("put", GOALS),
        ("patch", GOALS),
        ("delete", url(str(uuid.uuid4()))),
        ("put", url(str(uuid.uuid4()))),
        ("post", url(str(uuid.uuid4()))),
    ],
)
def test_unsupported_methods_are_json_405s(api: APIClient, method: str, path: str) -> None:
    response = getattr(api, method)(path, {}, format="json")
    error = assert_error(response, 405, "method_not_allowed")
    assert method.upper() in error["message"]
    assert method.upper() not in response["Allow"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", GOALS),
        ("post", GOALS),
        ("get", url(str(uuid.uuid4()))),
        ("patch", url(str(uuid.uuid4()))),
        ("post", url(str(uuid.uuid4()), "archive")),
        ("post", url(str(uuid.uuid4()), "unarchive")),
    ],
)
def test_goals_need_a_token(
    anonymous: APIClient, dynamo_calls: DynamoCalls, method: str, path: str
) -> None:
    response = getattr(anonymous, method)(path, VALID, format="json")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert dynamo_calls() == {}


def test_health_needs_no_token(anonymous: APIClient, aws_calls: Any) -> None:
    response = anonymous.get("/api/v1/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert sum(aws_calls.values()) == 0
