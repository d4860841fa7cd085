"""``POST /api/v1/activities:batch`` through HTTP, against moto's DynamoDB
and real Cognito tokens: per-item answers, what ends up stored, replays,
the envelope's limits, and what a batch costs in DynamoDB requests.

Goals are made with the goal service; everything about activities goes
through HTTP and is checked in DynamoDB afterwards.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from activities.models import Activity, GoalProgress, PeriodBucket
from goals.models import Goal
from goals.services import goal_archive
from lifestyle.dynamo import TableItem, user_pk
from tests.activities.test_services import new_goal
from tests.conftest import DynamoCalls, User, assert_error

# Throttling is injected as in tests/lifestyle/test_throttling.py. Importing
# its fixtures makes ``no_backoff`` and ``fresh_clients`` autouse here too:
# no sleeping between botocore's retries, new clients per test.
from tests.lifestyle.test_throttling import (  # noqa: F401 (fixtures)
    Throttle,
    fresh_clients,
    no_backoff,
    throttle_dynamodb,
)

BATCH = "/api/v1/activities:batch"
WHEN = "2026-06-01T12:00:00Z"
MISSING = object()  # a field left out of an item


pytestmark = pytest.mark.usefixtures("purged_after")


@pytest.fixture
def counter(make_goal: Callable[..., Goal]) -> Goal:
    """A one-off count goal: no period buckets to read or write."""
    return make_goal(kind="count", target=Decimal(100), period="none")


@pytest.fixture
def habit(make_goal: Callable[..., Goal]) -> Goal:
    """A daily habit: each activity also moves its day's bucket."""
    return make_goal()


def item(goal_id: str, **fields: Any) -> dict[str, Any]:
    """A good item for ``goal_id`` (value 1, a fresh id) with ``fields`` over it."""
    body = {"id": str(uuid.uuid4()), "goal_id": goal_id, "occurred_at": WHEN, "value": 1, **fields}
    return {name: value for name, value in body.items() if value is not MISSING}


def send(client: APIClient, items: Any) -> Any:
    return client.post(BATCH, {"activities": items}, format="json")


def answered(client: APIClient, items: Any) -> dict[str, Any]:
    response = send(client, items)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert [result["index"] for result in body["results"]] == list(range(len(items)))
    statuses = Counter(result["status"] for result in body["results"])
    assert (body["created"], body["duplicates"], body["errors"]) == (
        statuses["created"],
        statuses["duplicate"],
        statuses["error"],
    )
    return body


def outcome(result: dict[str, Any]) -> tuple[Any, ...]:
    """What one result says, short: (status, status_code, error code, fields named)."""
    if result["status"] == "error":
        error = result["error"]
        assert set(error) <= {"code", "message", "fields"}
        assert isinstance(error["message"], str)
        assert error["message"]
        return (result["status"], result["status_code"], error["code"],
                sorted(error.get("fields", {})))  # fmt: skip
    assert "error" not in result
    return result["status"], result["status_code"]


def stored_activities(user_id: str) -> dict[str, Activity]:
    """Every activity in the user's partition, by id, read from DynamoDB."""
    return {
        each.activity_id: each
        for each in TableItem.query(user_pk(user_id), consistent_read=True)
        if isinstance(each, Activity)
    }


def partition(user_id: str) -> list[dict[str, Any]]:
    """Every item of the user's partition, as stored."""
    return [each.serialize() for each in TableItem.query(user_pk(user_id), consistent_read=True)]


def assert_totals_match(goal: Goal, activities: list[Activity]) -> None:
    """The goal's stored progress (and buckets) equal the sum of its activities."""
    mine = [each for each in activities if each.goal_id == goal.goal_id]
    try:
        progress = GoalProgress.get(goal.pk, f"PROGRESS#{goal.goal_id}", consistent_read=True)
        total, count = progress.total, progress.activity_count
    except GoalProgress.DoesNotExist:
        total, count = Decimal(0), 0
    assert (total, count) == (sum((each.value for each in mine), Decimal(0)), len(mine))
    buckets = {
        each.period_key: each.total
        for each in PeriodBucket.query(
            goal.pk, PeriodBucket.sk.startswith(f"BUCKET#{goal.goal_id}#"), consistent_read=True
        )
    }
    expected: Counter[str] = Counter()
    if goal.period != "none":
        for each in mine:
            expected[each.period_key] += each.value
    assert buckets == dict(expected)


# --- per-item answers and what is stored -----------------------------------------------


def test_a_mixed_batch_answers_each_item_and_stores_exactly_the_good_ones(
    api: APIClient,
    user: User,
    other_user: User,
    counter: Goal,
    habit: Goal,
    make_goal: Callable[..., Goal],
) -> None:
    archived = make_goal(title="Old")
    goal_archive(user_id=archived.user_id, goal_id=archived.goal_id)
    theirs = new_goal(other_user.user_id)
    items = [
        item(counter.goal_id, value=3, note="first"),
        item(counter.goal_id, value="3"),  # a count is a JSON number
        item(counter.goal_id, value=-1),
        item(str(uuid.uuid4())),  # no such goal
        item("not-a-goal-id"),
        item(theirs.goal_id),  # another user's goal
        item(archived.goal_id),
        item(counter.goal_id, occurred_at="2026-06-01T12:00:00"),  # no offset
        item(counter.goal_id, occurred_at="yesterday"),
        item(counter.goal_id, id=MISSING),
        item(counter.goal_id, id="not-a-uuid"),
        item(123, id=123, note=["x"]),  # wrong types
        item(counter.goal_id, note="x" * 1001),
        item(counter.goal_id, valeu=1),
        item(counter.goal_id, local_date="2026-06-01"),
        42,
        None,
        item(habit.goal_id, value=MISSING, note="Läuft 🏃 東京 \n"),
        item(counter.goal_id, value=4, occurred_at="2026-06-02T09:30:00+02:00"),
    ]

    body = answered(api, items)

    assert [outcome(result) for result in body["results"]] == [
        ("created", 201),
        ("error", 400, "validation_error", ["value"]),
        ("error", 400, "validation_error", ["value"]),
        ("error", 404, "not_found", []),
        ("error", 404, "not_found", []),
        ("error", 404, "not_found", []),
        ("error", 409, "conflict", []),
        ("error", 400, "validation_error", ["occurred_at"]),
        ("error", 400, "validation_error", ["occurred_at"]),
        ("error", 400, "validation_error", ["id"]),
        ("error", 400, "validation_error", ["id"]),
        ("error", 400, "validation_error", ["goal_id", "id", "note"]),
        ("error", 400, "validation_error", ["note"]),
        ("error", 400, "validation_error", ["valeu"]),
        ("error", 400, "validation_error", ["local_date"]),
        ("error", 400, "validation_error", []),  # not an object
        ("error", 400, "validation_error", []),
        ("created", 201),
        ("created", 201),
    ]
    assert (body["created"], body["duplicates"], body["errors"]) == (3, 0, 16)
    results = body["results"]
    # Each result names its item's id; none for the items that sent no UUID.
    no_uuid = {9, 10, 11, 15, 16}
    for index, (sent, result) in enumerate(zip(items, results, strict=True)):
        assert result["id"] == (None if index in no_uuid else sent["id"]), index
    assert results[14]["error"]["fields"] == {"local_date": ["This field is read-only."]}

    # The activities are as a GET gives them, and exactly these are stored.
    good = [results[0], results[17], results[18]]
    for result in good:
        fetched = api.get(f"/api/v1/activities/{result['id']}")
        assert (fetched.status_code, fetched.json()) == (200, result["activity"])
    assert good[1]["activity"]["note"] == "Läuft 🏃 東京 \n"
    assert good[1]["activity"]["value"] == "1"
    assert good[2]["activity"]["occurred_at"] == "2026-06-02T07:30:00Z"
    stored = stored_activities(user.user_id)
    assert set(stored) == {result["id"] for result in good}
    for goal in (counter, habit, archived):
        assert_totals_match(goal, list(stored.values()))
    assert GoalProgress.get(counter.pk, f"PROGRESS#{counter.goal_id}").total == Decimal(7)
    assert stored_activities(other_user.user_id) == {}


def test_an_item_gets_the_error_the_single_endpoint_gives(api: APIClient, counter: Goal) -> None:
    """Same code, message and fields, item by item."""
    cases = [
        {"value": "3"},
        {"occurred_at": "2026-06-01T12:00:00"},
        {"occurred_at": "2099-01-01T00:00:00Z"},  # too far in the future (the service's rule)
        {"occurred_at": "2025-12-31T12:00:00Z"},  # before the goal's start
        {"note": "x" * 1001},
        {"valeu": 1},
    ]
    body = answered(api, [item(counter.goal_id, **case) for case in cases])
    for case, result in zip(cases, body["results"], strict=True):
        single = api.post(
            f"/api/v1/goals/{counter.goal_id}/activities",
            {"occurred_at": WHEN, "value": 1, **case},
            format="json",
        )
        assert (result["status_code"], {"error": result["error"]}) == (
            single.status_code,
            single.json(),
        )
    assert stored_activities(counter.user_id) == {}


def test_unencodable_text_is_that_items_400_and_never_echoed(
    api: APIClient, user: User, counter: Goal
) -> None:
    """JSON lets a client send a lone surrogate; it cannot be stored or
    rendered. The item is refused, its neighbours are logged, and the
    answer is still valid JSON."""
    good_id = str(uuid.uuid4())
    raw = (
        '{"activities": ['
        f'{{"id": "{uuid.uuid4()}", "goal_id": "{counter.goal_id}", "occurred_at": "{WHEN}",'
        ' "value": 1, "note": "bad \\ud800"},'
        f'{{"id": "\\udfff", "goal_id": "{counter.goal_id}", "occurred_at": "{WHEN}", "value": 1}},'
        f'{{"id": "{good_id}", "goal_id": "{counter.goal_id}", "occurred_at": "{WHEN}",'
        ' "value": 2, "note": "Run \\ud83c\\udfc3"}'
        "]}"
    ).encode()

    response = api.generic("POST", BATCH, raw, content_type="application/json")

    assert response.status_code == 200, response.content
    results = json.loads(response.content)["results"]
    assert [outcome(result) for result in results] == [
        ("error", 400, "validation_error", ["note"]),
        ("error", 400, "validation_error", ["id"]),
        ("created", 201),
    ]
    assert results[1]["id"] is None
    assert results[2]["activity"]["note"] == "Run 🏃"
    assert set(stored_activities(user.user_id)) == {good_id}


# --- replays and duplicate ids ----------------------------------------------------------


def test_replaying_a_batch_answers_duplicates_and_changes_nothing(
    api: APIClient, user: User, counter: Goal, habit: Goal
) -> None:
    items = [
        item(counter.goal_id, value=2, note="a"),
        item(habit.goal_id, note="b"),
        item(counter.goal_id, value="2"),  # stays an error
        item(counter.goal_id, value=5, occurred_at="2026-06-01T14:00:00+02:00"),
    ]
    first = answered(api, items)
    assert (first["created"], first["duplicates"], first["errors"]) == (3, 0, 1)
    before = partition(user.user_id)

    again = answered(api, items)

    assert [outcome(result) for result in again["results"]] == [
        ("duplicate", 200),
        ("duplicate", 200),
        ("error", 400, "validation_error", ["value"]),
        ("duplicate", 200),
    ]
    assert (again["created"], again["duplicates"], again["errors"]) == (0, 3, 1)
    for old, new in zip(first["results"], again["results"], strict=True):
        assert new["id"] == old["id"]
        assert new.get("activity") == old.get("activity")
    assert partition(user.user_id) == before


def test_an_id_repeated_in_one_batch_is_a_duplicate_if_identical_else_a_conflict(
    api: APIClient, user: User, counter: Goal
) -> None:
    shared = str(uuid.uuid4())
    first = item(counter.goal_id, id=shared, value=3, note="x")
    items = [
        first,
        first,
        {**first, "id": shared.upper(), "occurred_at": "2026-06-01T14:00:00+02:00"},  # same
        {**first, "value": 4},
        {**first, "note": "y"},
    ]

    results = answered(api, items)["results"]

    assert [outcome(result) for result in results] == [
        ("created", 201),
        ("duplicate", 200),
        ("duplicate", 200),
        ("error", 409, "conflict", []),
        ("error", 409, "conflict", []),
    ]
    assert {result["id"] for result in results} == {shared}
    assert results[1]["activity"] == results[2]["activity"] == results[0]["activity"]
    stored = stored_activities(user.user_id)
    assert list(stored) == [shared]
    assert_totals_match(counter, list(stored.values()))
    assert stored[shared].value == Decimal(3)


def test_an_activity_logged_alone_is_a_duplicate_or_a_conflict_in_a_batch(
    api: APIClient, user: User, counter: Goal
) -> None:
    client_id = str(uuid.uuid4())
    single = api.post(
        f"/api/v1/goals/{counter.goal_id}/activities",
        {"id": client_id, "occurred_at": WHEN, "value": 2},
        format="json",
    )
    assert single.status_code == 201, single.content

    results = answered(
        api,
        [
            item(counter.goal_id, id=client_id, value=2),
            item(counter.goal_id, id=client_id, value=3),
        ],
    )["results"]

    assert [outcome(result) for result in results] == [
        ("duplicate", 200),
        ("error", 409, "conflict", []),
    ]
    assert results[0]["activity"] == single.json()
    assert_totals_match(counter, list(stored_activities(user.user_id).values()))


# --- cost -------------------------------------------------------------------------------


def test_a_hundred_items_cost_a_fixed_number_of_requests_each(
    api: APIClient, user: User, counter: Goal, habit: Goal, dynamo_calls: DynamoCalls
) -> None:
    """A new item on a one-off goal: one BatchGetItem (goal, progress, the
    id) and one TransactWriteItems. On a recurring goal the period's bucket
    is read too: in a second BatchGetItem the first time, and in the same one
    once the process knows the goal's calendar. A duplicate: one read."""
    items = [item(counter.goal_id, value=n + 1) for n in range(50)]
    items += [item(habit.goal_id, occurred_at=f"2026-06-{n % 30 + 1:02}T08:00:00Z")
              for n in range(50)]  # fmt: skip
    dynamo_calls.reset()

    body = answered(api, items)

    assert body["created"] == 100
    assert dynamo_calls() == {"BatchGetItem": 50 * 1 + 2 + 49 * 1, "TransactWriteItems": 100}
    stored = list(stored_activities(user.user_id).values())
    assert len(stored) == 100
    assert_totals_match(counter, stored)
    assert_totals_match(habit, stored)
    assert GoalProgress.get(counter.pk, f"PROGRESS#{counter.goal_id}").total == sum(range(51))

    dynamo_calls.reset()
    assert answered(api, items)["duplicates"] == 100
    assert dynamo_calls() == {"BatchGetItem": 100}


# --- the envelope -----------------------------------------------------------------------


def post_raw(client: APIClient, raw: bytes, content_type: str = "application/json") -> Any:
    return client.generic("POST", BATCH, raw, content_type=content_type)


@pytest.mark.parametrize(
    "activities",
    [
        [],
        "many",
        {"0": {}},
        42,
        None,
        MISSING,
    ],
    ids=["empty", "text", "object", "number", "null", "missing"],
)
def test_activities_must_be_a_list_of_1_to_100(
    api: APIClient, dynamo_calls: DynamoCalls, activities: Any
) -> None:
    body = {} if activities is MISSING else {"activities": activities}
    dynamo_calls.reset()
    assert_error(api.post(BATCH, body, format="json"), 400, "validation_error", "activities")
    assert dynamo_calls() == {}


def test_101_items_are_refused_whole(
    api: APIClient, user: User, counter: Goal, dynamo_calls: DynamoCalls
) -> None:
    dynamo_calls.reset()
    error = assert_error(
        send(api, [item(counter.goal_id) for _ in range(101)]), 400, "validation_error",
        "activities",
    )  # fmt: skip
    assert "100" in error["fields"]["activities"][0]
    assert dynamo_calls() == {}
    assert stored_activities(user.user_id) == {}


def test_unknown_top_level_fields_are_refused(api: APIClient, counter: Goal) -> None:
    body = {"activities": [item(counter.goal_id)], "dry_run": True}
    error = assert_error(api.post(BATCH, body, format="json"), 400, "validation_error", "dry_run")
    assert error["fields"] == {"dry_run": ["Unknown field."]}


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"[]", "validation_error"),
        (b'[{"id": "x"}]', "validation_error"),
        (b'"activities"', "validation_error"),
        (b"null", "validation_error"),
        (b"42", "validation_error"),
        (b'{"activities": [', "parse_error"),
        (b'{"activities": [{"value": NaN}]}', "parse_error"),
    ],
)
def test_a_body_that_is_no_json_object_is_refused(
    api: APIClient, dynamo_calls: DynamoCalls, raw: bytes, code: str
) -> None:
    dynamo_calls.reset()
    assert_error(post_raw(api, raw), 400, code)
    assert dynamo_calls() == {}


def test_non_json_is_unsupported(api: APIClient, counter: Goal) -> None:
    raw = json.dumps({"activities": [item(counter.goal_id)]}).encode()
    assert_error(post_raw(api, raw, "text/plain"), 415, "unsupported_media_type")


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_only_post(api: APIClient, method: str) -> None:
    assert_error(getattr(api, method)(BATCH), 405, "method_not_allowed")


def test_a_full_batch_of_longest_notes_is_too_large_and_halves_fit(
    api: APIClient, user: User, counter: Goal, dynamo_calls: DynamoCalls
) -> None:
    """100 items with 1000-character notes are over the 64 KB every request
    is held to: 413 before anything is read or written. The same queue in
    two batches of 50 goes through."""
    items = [item(counter.goal_id, note="x" * 1000) for _ in range(100)]
    assert len(json.dumps({"activities": items})) > settings.API_MAX_BODY_BYTES
    dynamo_calls.reset()

    assert_error(send(api, items), 413, "payload_too_large")

    assert dynamo_calls() == {}
    assert stored_activities(user.user_id) == {}
    for half in (items[:50], items[50:]):
        assert len(json.dumps({"activities": half})) < settings.API_MAX_BODY_BYTES
        assert answered(api, half)["created"] == 50
    stored = stored_activities(user.user_id)
    assert len(stored) == 100
    assert_totals_match(counter, list(stored.values()))


# --- authentication -------------------------------------------------------------------------


def forged(user: User, other_user: User) -> str:
    """``user``'s real signature over a payload that names ``other_user``."""
    header, payload, signature = user.access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = other_user.user_id
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{body}.{signature}"


@pytest.mark.parametrize(
    ("token", "code"),
    [(None, "not_authenticated"), ("forged", "authentication_failed"),
     ("garbage", "authentication_failed")],
)  # fmt: skip
def test_a_missing_or_forged_token_is_401_and_logs_nothing(
    user: User, other_user: User, anonymous: APIClient, token: str | None, code: str
) -> None:
    goal = new_goal(other_user.user_id)
    if token is not None:
        bearer = forged(user, other_user) if token == "forged" else "not.a.jwt"
        anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer}")

    response = send(anonymous, [item(goal.goal_id)])

    assert_error(response, 401, code)
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert stored_activities(other_user.user_id) == {}


# --- DynamoDB busy --------------------------------------------------------------------------


def test_after_a_503_the_rest_are_not_attempted_and_a_resend_completes(
    api: APIClient,
    user: User,
    counter: Goal,
    throttle_dynamodb: Callable[..., Throttle],  # noqa: F811 (the imported fixture)
) -> None:
    done = item(counter.goal_id, value=1)
    assert answered(api, [done])["created"] == 1
    items = [
        done,
        item(counter.goal_id, value=2),
        item(counter.goal_id, value=3),
        item(counter.goal_id, value="4"),
    ]
    throttled = throttle_dynamodb({"TransactWriteItems"})

    busy = answered(api, items)

    assert [outcome(result) for result in busy["results"]] == [
        ("duplicate", 200),
        ("error", 503, "service_unavailable", []),
        ("error", 503, "service_unavailable", []),
        ("error", 503, "service_unavailable", []),
    ]
    assert "Not attempted" in busy["results"][2]["error"]["message"]
    # Only the first new item was tried (botocore's attempts), none after it.
    assert throttled.attempts["TransactWriteItems"] == settings.AWS_MAX_ATTEMPTS
    assert set(stored_activities(user.user_id)) == {done["id"]}

    throttled.stop()
    resent = answered(api, items)
    assert [outcome(result) for result in resent["results"]] == [
        ("duplicate", 200),
        ("created", 201),
        ("created", 201),
        ("error", 400, "validation_error", ["value"]),
    ]
    stored = list(stored_activities(user.user_id).values())
    assert len(stored) == 3
    assert_totals_match(counter, stored)
