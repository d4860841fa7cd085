"""The activities and progress API through HTTP (DRF's APIClient), against
moto's DynamoDB and real Cognito tokens. Goals are made with the goal
service (one request each); everything about activities goes through HTTP."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from goals.models import Goal
from goals.services import goal_archive
from lifestyle.timeutil import rfc3339, utcnow
from tests.activities.test_periods import KIRITIMATI, NEW_YORK
from tests.activities.test_services import (
    BAD_VALUES,
    GOOD_VALUES,
    TARGETS,
    bucket_totals,
    new_goal,
    utc,
)
from tests.conftest import DynamoCalls, User, assert_error
from tests.goals.test_apis import without

GOALS = "/api/v1/goals"
ACTIVITIES = "/api/v1/activities"
PROGRESS = "/api/v1/progress"
MISSING = object()  # a field left out of the body
WHEN = "2026-06-01T12:00:00Z"


def goal_url(goal_id: str, action: str = "activities") -> str:
    return f"{GOALS}/{goal_id}/{action}"


def activity_url(activity_id: str) -> str:
    return f"{ACTIVITIES}/{activity_id}"


pytestmark = pytest.mark.usefixtures("purged_after")


@pytest.fixture
def goal(make_goal: Callable[..., Goal]) -> Goal:
    return make_goal(kind="count", target=Decimal(5))


def body_with(**fields: Any) -> dict[str, Any]:
    body = {"occurred_at": WHEN, **fields}
    return {name: value for name, value in body.items() if value is not MISSING}


def post(client: APIClient, goal_id: str, /, **fields: Any) -> Any:
    return client.post(goal_url(goal_id), body_with(**fields), format="json")


def logged(client: APIClient, goal_id: str, /, **fields: Any) -> dict[str, Any]:
    response = post(client, goal_id, **fields)
    assert response.status_code == 201, response.content
    return response.json()


def patch(client: APIClient, activity_id: str, body: Any, if_match: str | None = '"1"') -> Any:
    headers = {} if if_match is None else {"HTTP_IF_MATCH": if_match}
    return client.patch(activity_url(activity_id), body, format="json", **headers)


def delete(client: APIClient, activity_id: str, if_match: str | None = None) -> Any:
    headers = {} if if_match is None else {"HTTP_IF_MATCH": if_match}
    return client.delete(activity_url(activity_id), **headers)


def goal_progress(client: APIClient, goal_id: str) -> dict[str, Any]:
    response = client.get(goal_url(goal_id, "progress"))
    assert response.status_code == 200, response.content
    return response.json()


def listed(client: APIClient, path: str = ACTIVITIES, **params: Any) -> list[str]:
    response = client.get(path, params)
    assert response.status_code == 200, response.content
    return [item["note"] for item in response.json()["items"]]


# --- log -----------------------------------------------------------------------------------


def test_log_activity(api: APIClient, make_goal: Callable[..., Goal]) -> None:
    goal = make_goal(kind="count", target=Decimal(5), timezone=NEW_YORK)
    response = post(api, goal.goal_id, value=3, occurred_at="2026-06-01T23:30:00-04:00", note="x")
    assert response.status_code == 201, response.content
    body = response.json()
    assert response["ETag"] == '"1"'
    assert response["Location"] == f"http://testserver{activity_url(body['id'])}"
    assert "Idempotent-Replayed" not in response
    assert len(body["id"]) == 26
    assert without(body, "id", "created_at", "updated_at") == {
        "goal_id": goal.goal_id,
        "value": "3",
        "occurred_at": "2026-06-02T03:30:00Z",
        "local_date": "2026-06-01",  # 23:30 in New York
        "note": "x",
        "version": 1,
    }
    assert body["created_at"] == body["updated_at"]
    fetched = api.get(response["Location"])
    assert (fetched.status_code, fetched.json(), fetched["ETag"]) == (200, body, '"1"')


def representation(value: Decimal) -> str:
    return format(value.normalize(), "f")


@pytest.mark.parametrize(("kind", "raw", "expected"), GOOD_VALUES)
def test_values_by_kind(
    api: APIClient, make_goal: Callable[..., Goal], kind: str, raw: Any, expected: Decimal
) -> None:
    goal = make_goal(kind=kind, target=TARGETS[kind])
    body = logged(api, goal.goal_id, value=MISSING if raw is None else raw)
    assert body["value"] == representation(expected)
    progress = goal_progress(api, goal.goal_id)
    assert (progress["total"], progress["activity_count"]) == (representation(expected), 1)


@pytest.mark.parametrize(("kind", "raw"), [*BAD_VALUES, ("count", MISSING), ("amount", MISSING)])
def test_bad_values_by_kind(
    api: APIClient, make_goal: Callable[..., Goal], kind: str, raw: Any
) -> None:
    goal = make_goal(kind=kind, target=TARGETS[kind])
    assert_error(post(api, goal.goal_id, value=raw), 400, "validation_error", "value")
    assert goal_progress(api, goal.goal_id)["activity_count"] == 0


@pytest.mark.parametrize(
    "occurred_at",
    [
        MISSING,
        None,
        "2026-11-28T10:00:00",
        "2026-11-28",
        "garbage",
        "",
        "2026-06-01T25:00:00Z",
        "2026-02-30T10:00:00Z",
        1764322800,
        ["2026-06-01T12:00:00Z"],
        {"at": "2026-06-01T12:00:00Z"},
    ],
)
def test_occurred_at_must_be_rfc_3339_with_an_offset(
    api: APIClient, goal: Goal, occurred_at: Any
) -> None:
    response = post(api, goal.goal_id, value=1, occurred_at=occurred_at)
    assert_error(response, 400, "validation_error", "occurred_at")


def test_at_most_a_day_in_the_future(api: APIClient, goal: Goal) -> None:
    too_late = rfc3339(utcnow() + timedelta(days=1, minutes=10))
    assert_error(post(api, goal.goal_id, value=1, occurred_at=too_late), 400,
                 "validation_error", "occurred_at")  # fmt: skip
    logged(api, goal.goal_id, value=1, occurred_at=rfc3339(utcnow() + timedelta(hours=23)))


def test_not_before_the_goals_start_in_its_timezone(
    api: APIClient, make_goal: Callable[..., Goal]
) -> None:
    goal = make_goal(timezone=KIRITIMATI, start_date=date(2026, 6, 10))
    early = post(api, goal.goal_id, occurred_at="2026-06-09T09:30:00Z")  # 9 June there
    assert_error(early, 400, "validation_error", "occurred_at")
    body = logged(api, goal.goal_id, occurred_at="2026-06-09T10:30:00Z")  # 10 June there
    assert body["local_date"] == "2026-06-10"


def test_backfilling_an_old_day(api: APIClient, make_goal: Callable[..., Goal]) -> None:
    goal = make_goal(start_date=date(2020, 1, 1))
    assert logged(api, goal.goal_id, occurred_at="2020-01-01T00:00:00Z")["local_date"] == (
        "2020-01-01"
    )


def test_a_note_holds_up_to_1000_characters(api: APIClient, goal: Goal) -> None:
    assert_error(post(api, goal.goal_id, value=1, note="x" * 1001), 400, "validation_error",
                 "note")  # fmt: skip
    assert logged(api, goal.goal_id, value=1, note="x" * 1000)["note"] == "x" * 1000
    assert logged(api, goal.goal_id, value=1, note=" 🏃 \n")["note"] == " 🏃 \n"


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("valeu", "Unknown field."),
        ("goal_id", "This field is read-only."),
        ("local_date", "This field is read-only."),
        ("created_at", "This field is read-only."),
        ("updated_at", "This field is read-only."),
        ("version", "This field is read-only."),
    ],
)
def test_unknown_and_read_only_fields_are_refused(
    api: APIClient, goal: Goal, dynamo_calls: DynamoCalls, field: str, message: str
) -> None:
    dynamo_calls.reset()
    error = assert_error(post(api, goal.goal_id, value=1, **{field: "1"}), 400, "validation_error")
    assert error["fields"] == {field: [message]}
    assert dynamo_calls() == {}


@pytest.mark.parametrize("client_id", ["not-a-uuid", 123, None, ""])
def test_a_client_id_must_be_a_uuid(api: APIClient, goal: Goal, client_id: Any) -> None:
    assert_error(post(api, goal.goal_id, value=1, id=client_id), 400, "validation_error", "id")


def test_an_archived_goal_is_a_conflict(api: APIClient, goal: Goal) -> None:
    goal_archive(user_id=goal.user_id, goal_id=goal.goal_id)
    assert_error(post(api, goal.goal_id, value=1), 409, "conflict")


@pytest.mark.parametrize("goal_id", [str(uuid.uuid4()), "01M8G6FQQKFRPAMMDXP43929VC", "abc"])
def test_an_unknown_goal_is_not_found(api: APIClient, goal_id: str) -> None:
    assert_error(post(api, goal_id, value=1), 404, "not_found")
    assert_error(api.get(goal_url(goal_id)), 404, "not_found")
    assert_error(api.get(goal_url(goal_id, "progress")), 404, "not_found")


def test_another_users_goal_is_not_found(api: APIClient, goal: Goal, other_user: User) -> None:
    theirs = other_user.client()
    assert_error(post(theirs, goal.goal_id, value=1), 404, "not_found")
    assert_error(theirs.get(goal_url(goal.goal_id)), 404, "not_found")
    assert_error(theirs.get(goal_url(goal.goal_id, "progress")), 404, "not_found")
    assert goal_progress(api, goal.goal_id)["activity_count"] == 0


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b"occurred_at=2026-06-01T12:00:00Z", "application/x-www-form-urlencoded"),
        (json.dumps({"occurred_at": WHEN, "value": 1}).encode(), "text/plain"),
    ],
)
def test_non_json_is_unsupported(api: APIClient, goal: Goal, raw: bytes, content_type: str) -> None:
    response = api.generic("POST", goal_url(goal.goal_id), raw, content_type=content_type)
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"[]", "validation_error"),
        (b'"x"', "validation_error"),
        (b"null", "validation_error"),
        (b'{"occurred_at": ', "parse_error"),
        (b'{"occurred_at": "2026-06-01T12:00:00Z", "value": NaN}', "parse_error"),
    ],
)
def test_a_body_that_is_no_json_object_is_refused(
    api: APIClient, goal: Goal, raw: bytes, code: str
) -> None:
    response = api.generic("POST", goal_url(goal.goal_id), raw, content_type="application/json")
    assert_error(response, 400, code)


def test_a_huge_body_is_too_large(api: APIClient, goal: Goal, dynamo_calls: DynamoCalls) -> None:
    dynamo_calls.reset()
    assert_error(post(api, goal.goal_id, value=1, note="x" * 70_000), 413, "payload_too_large")
    assert dynamo_calls() == {}


# --- retries -------------------------------------------------------------------------------


def test_a_retried_log_returns_the_same_activity(api: APIClient, goal: Goal) -> None:
    client_id = str(uuid.uuid4())
    first = post(api, goal.goal_id, id=client_id, value=2)
    assert first.status_code == 201
    for spelling in (client_id, client_id.upper()):
        again = post(api, goal.goal_id, id=spelling, value=2)
        assert (again.status_code, again.json()) == (201, first.json())
        assert again["Idempotent-Replayed"] == "true"
        assert (again["ETag"], again["Location"]) == ('"1"', first["Location"])
    # The same moment with another offset is the same request.
    same = post(api, goal.goal_id, id=client_id, value=2, occurred_at="2026-06-01T08:00:00-04:00")
    assert (same.status_code, same["Idempotent-Replayed"]) == (201, "true")
    progress = goal_progress(api, goal.goal_id)
    assert (progress["total"], progress["activity_count"]) == ("2", 1)
    assert listed(api, goal_url(goal.goal_id)) == [""]


@pytest.mark.parametrize(
    "changes", [{"value": 3}, {"note": "again"}, {"occurred_at": "2026-06-01T12:00:01Z"}]
)
def test_the_same_id_with_another_body_conflicts(
    api: APIClient, goal: Goal, changes: dict[str, Any]
) -> None:
    client_id = str(uuid.uuid4())
    first = logged(api, goal.goal_id, id=client_id, value=2)
    assert_error(post(api, goal.goal_id, **{"id": client_id, "value": 2, **changes}), 409,
                 "conflict")  # fmt: skip
    assert api.get(activity_url(client_id)).json() == first
    assert goal_progress(api, goal.goal_id)["total"] == "2"


# --- change and delete ------------------------------------------------------------------------


@pytest.fixture
def activity(api: APIClient, goal: Goal) -> dict[str, Any]:
    """3 on 1 June (UTC) toward a goal of 5 a day."""
    return logged(api, goal.goal_id, value=3, note="morning")


def test_patch_needs_if_match(api: APIClient, activity: dict[str, Any]) -> None:
    for header in (None, ""):
        assert_error(patch(api, activity["id"], {"value": 4}, header), 428,
                     "precondition_required")  # fmt: skip


@pytest.mark.parametrize("if_match", ['"2"', '"0"', "garbage"])
def test_patch_with_a_stale_etag_fails(
    api: APIClient, activity: dict[str, Any], if_match: str
) -> None:
    assert_error(patch(api, activity["id"], {"value": 4}, if_match), 412, "precondition_failed")
    assert api.get(activity_url(activity["id"])).json() == activity


def test_patch_changes_the_activity_and_the_totals(
    api: APIClient, goal: Goal, activity: dict[str, Any]
) -> None:
    other = logged(api, goal.goal_id, value=2, occurred_at="2026-06-01T08:00:00Z")
    response = patch(api, activity["id"], {"value": 4, "note": "evening"})
    assert (response.status_code, response["ETag"]) == (200, '"2"')
    body = response.json()
    assert (body["value"], body["note"], body["version"]) == ("4", "evening", 2)
    assert body["created_at"] == activity["created_at"]
    assert api.get(activity_url(activity["id"])).json() == body
    assert bucket_totals(goal, "2026-06-01") == {"2026-06-01": Decimal(6)}
    # The ETag the change gave back is the one to send next.
    moved = patch(api, activity["id"], {"occurred_at": "2026-06-02T23:59:59+00:00"}, '"2"')
    assert (moved.status_code, moved["ETag"]) == (200, '"3"')
    assert moved.json()["local_date"] == "2026-06-02"
    assert bucket_totals(goal, "2026-06-01", "2026-06-02") == {
        "2026-06-01": Decimal(2),
        "2026-06-02": Decimal(4),
    }
    progress = goal_progress(api, goal.goal_id)
    assert (progress["total"], progress["activity_count"]) == ("6", 2)
    assert progress["last_activity_at"] == "2026-06-02T23:59:59Z"
    back = patch(api, activity["id"], {"occurred_at": "2026-06-01T09:00:00Z"}, '"3"')
    assert back.status_code == 200, back.content
    assert bucket_totals(goal, "2026-06-01", "2026-06-02") == {
        "2026-06-01": Decimal(6),
        "2026-06-02": None,
    }
    assert goal_progress(api, goal.goal_id)["last_activity_at"] == "2026-06-01T09:00:00Z"
    assert api.get(activity_url(other["id"])).json() == other


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": str(uuid.uuid4())}, "id"),
        ({"goal_id": str(uuid.uuid4())}, "goal_id"),
        ({"local_date": "2026-06-02"}, "local_date"),
        ({"created_at": WHEN}, "created_at"),
        ({"updated_at": WHEN}, "updated_at"),
        ({"version": 2}, "version"),
        ({"valeu": 2}, "valeu"),
        ({"value": 2.5}, "value"),
        ({"value": None}, "value"),
        ({"occurred_at": "2026-06-01T12:00:00"}, "occurred_at"),
        ({"occurred_at": "2025-12-31T23:00:00Z"}, "occurred_at"),
        ({"note": "x" * 1001}, "note"),
    ],
)
def test_patch_refuses_bad_fields(
    api: APIClient, activity: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    assert_error(patch(api, activity["id"], body), 400, "validation_error", field)
    assert api.get(activity_url(activity["id"])).json() == activity


def test_patch_needs_a_change(api: APIClient, activity: dict[str, Any]) -> None:
    assert_error(patch(api, activity["id"], {}), 400, "validation_error")


def test_patch_and_delete_on_an_archived_goal_conflict(
    api: APIClient, goal: Goal, activity: dict[str, Any]
) -> None:
    goal_archive(user_id=goal.user_id, goal_id=goal.goal_id)
    assert_error(patch(api, activity["id"], {"value": 4}), 409, "conflict")
    assert_error(delete(api, activity["id"]), 409, "conflict")


def test_delete_takes_the_activity_out_of_the_totals(
    api: APIClient, goal: Goal, activity: dict[str, Any]
) -> None:
    latest = logged(api, goal.goal_id, value=2, occurred_at="2026-06-01T13:00:00Z")
    assert goal_progress(api, goal.goal_id)["last_activity_at"] == latest["occurred_at"]
    assert_error(delete(api, latest["id"], '"2"'), 412, "precondition_failed")
    response = delete(api, latest["id"], '"1"')
    assert (response.status_code, response.content) == (204, b"")
    assert_error(api.get(activity_url(latest["id"])), 404, "not_found")
    assert_error(delete(api, latest["id"]), 404, "not_found")
    progress = goal_progress(api, goal.goal_id)
    assert (progress["total"], progress["activity_count"]) == ("3", 1)
    assert progress["last_activity_at"] == activity["occurred_at"]  # the one before
    assert bucket_totals(goal, "2026-06-01") == {"2026-06-01": Decimal(3)}
    assert delete(api, activity["id"]).status_code == 204
    progress = goal_progress(api, goal.goal_id)
    assert (progress["total"], progress["activity_count"]) == ("0", 0)
    assert progress["last_activity_at"] is None
    assert bucket_totals(goal, "2026-06-01") == {"2026-06-01": None}


def test_another_users_activity_is_not_found(
    api: APIClient, activity: dict[str, Any], other_user: User
) -> None:
    theirs = other_user.client()
    assert_error(theirs.get(activity_url(activity["id"])), 404, "not_found")
    assert_error(patch(theirs, activity["id"], {"value": 1}), 404, "not_found")
    assert_error(delete(theirs, activity["id"]), 404, "not_found")
    assert api.get(activity_url(activity["id"])).json() == activity


@pytest.mark.parametrize("activity_id", [str(uuid.uuid4()), "abc", "01M8G6FQQKFRPAMMDXP43929V!"])
def test_unknown_activities_are_not_found(api: APIClient, activity_id: str) -> None:
    assert_error(api.get(activity_url(activity_id)), 404, "not_found")
    assert_error(patch(api, activity_id, {"value": 1}), 404, "not_found")
    assert_error(delete(api, activity_id), 404, "not_found")


# --- lists ---------------------------------------------------------------------------------------


@pytest.fixture
def history(api: APIClient, make_goal: Callable[..., Goal], other_user: User) -> list[Goal]:
    """Two goals of ``user``: notes "a9", "a7", "a8", "a10" on the first at
    those hours of 1 June (UTC), "b830" on the second at 08:30; and one of
    ``other_user``'s at 08:45."""
    first, second = make_goal(), make_goal()
    for hour in (9, 7, 8, 10):
        logged(api, first.goal_id, note=f"a{hour}", occurred_at=rfc3339(utc(2026, 6, 1, hour)))
    logged(api, second.goal_id, note="b830", occurred_at="2026-06-01T08:30:00Z")
    theirs = new_goal(other_user.user_id)
    logged(other_user.client(), theirs.goal_id, note="theirs", occurred_at="2026-06-01T08:45Z")
    return [first, second]


def test_lists_are_newest_first(api: APIClient, history: list[Goal]) -> None:
    first, second = history
    assert listed(api, goal_url(first.goal_id)) == ["a10", "a9", "a8", "a7"]
    assert listed(api, goal_url(second.goal_id)) == ["b830"]
    assert listed(api) == ["a10", "a9", "b830", "a8", "a7"]
    item = api.get(ACTIVITIES, {"limit": 1}).json()["items"][0]
    assert item == api.get(activity_url(item["id"])).json()


@pytest.mark.parametrize(
    ("params", "goal_notes", "all_notes"),
    [
        ({"from": "2026-06-01T08:00:00Z"}, ["a10", "a9", "a8"], ["a10", "a9", "b830", "a8"]),
        ({"to": "2026-06-01T08:30:00Z"}, ["a8", "a7"], ["a8", "a7"]),
        ({"from": "2026-06-01T08:30:00Z", "to": "2026-06-01T10:00:00Z"}, ["a9"], ["a9", "b830"]),
        ({"from": "2026-06-01T04:00:00-04:00", "to": "2026-06-01T05:00:00-04:00"}, ["a8"],
         ["b830", "a8"]),
        ({"from": "2026-06-02T00:00:00Z"}, [], []),
    ],
)  # fmt: skip
def test_from_is_inclusive_and_to_exclusive(
    api: APIClient,
    history: list[Goal],
    params: dict[str, str],
    goal_notes: list[str],
    all_notes: list[str],
) -> None:
    assert listed(api, goal_url(history[0].goal_id), **params) == goal_notes
    assert listed(api, **params) == all_notes


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": WHEN, "to": WHEN}, "to"),
        ({"from": "2026-06-02T00:00:00Z", "to": WHEN}, "to"),
        ({"from": "2026-06-01T12:00:00"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"cursor": "abc"}, "cursor"),
    ],
)
def test_bad_list_parameters_are_refused(
    api: APIClient, goal: Goal, dynamo_calls: DynamoCalls, params: dict[str, str], field: str
) -> None:
    dynamo_calls.reset()
    for path in (goal_url(goal.goal_id), ACTIVITIES):
        assert_error(api.get(path, params), 400, "validation_error", field)
    assert dynamo_calls() == {}


@pytest.mark.parametrize("limit", ["1", "100"])
def test_limits_at_the_bounds(api: APIClient, history: list[Goal], limit: str) -> None:
    assert len(listed(api, limit=limit)) == min(int(limit), 5)


def follow(
    client: APIClient, path: str, calls: DynamoCalls, name: str = "note", **params: Any
) -> list[list[str]]:
    """``name`` of the items of every page of a list, following
    ``next_cursor``; each page costs one Query (and, for progress, one
    BatchGetItem for the goals on it)."""
    found: list[list[str]] = []
    cursor = None
    while len(found) < 10:
        calls.reset()
        response = client.get(path, {**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.content
        items = response.json()["items"]
        assert calls() == {
            "Query": 1,
            **({"BatchGetItem": 1} if path == PROGRESS and items else {}),
        }
        found.append([item[name] for item in items])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return found
    raise AssertionError("the cursor never ends")


def test_cursor_paging_visits_everything_once(
    api: APIClient, history: list[Goal], dynamo_calls: DynamoCalls
) -> None:
    on_goal = follow(api, goal_url(history[0].goal_id), dynamo_calls, limit=3)
    assert on_goal == [["a10", "a9", "a8"], ["a7"]]
    everywhere = follow(api, ACTIVITIES, dynamo_calls, limit=2)
    assert everywhere == [["a10", "a9"], ["b830", "a8"], ["a7"]]
    in_range = follow(api, ACTIVITIES, dynamo_calls, limit=1, **{"from": "2026-06-01T08:00:00Z"})
    assert [note for page in in_range for note in page] == ["a10", "a9", "b830", "a8"]


def test_a_cursor_is_bound_to_its_user_list_and_filters(
    api: APIClient, history: list[Goal], other_user: User
) -> None:
    first, second = history
    cursor = api.get(goal_url(first.goal_id), {"limit": 1}).json()["next_cursor"]
    assert len(listed(api, goal_url(first.goal_id), limit=1, cursor=cursor)) == 1
    elsewhere = [
        (api, goal_url(second.goal_id), {}),
        (api, ACTIVITIES, {}),
        (api, goal_url(first.goal_id), {"from": "2026-06-01T00:00:00Z"}),
        (api, goal_url(first.goal_id), {"to": "2026-06-02T00:00:00Z"}),
        (api, PROGRESS, {}),
        (other_user.client(), goal_url(first.goal_id), {}),
        (other_user.client(), ACTIVITIES, {}),
    ]
    for client, path, params in elsewhere:
        response = client.get(path, {"limit": 1, "cursor": cursor, **params})
        assert_error(response, 400, "validation_error", "cursor")
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    assert_error(api.get(goal_url(first.goal_id), {"limit": 1, "cursor": tampered}), 400,
                 "validation_error", "cursor")  # fmt: skip


def test_lists_never_show_another_users_activities(
    api: APIClient, history: list[Goal], other_user: User
) -> None:
    theirs = other_user.client()
    assert listed(theirs) == ["theirs"]
    assert_error(theirs.get(goal_url(history[0].goal_id)), 404, "not_found")
    assert "theirs" not in listed(api)


def test_an_empty_list_of_a_real_goal(api: APIClient, goal: Goal) -> None:
    assert api.get(goal_url(goal.goal_id)).json() == {"items": [], "next_cursor": None}


# --- progress ------------------------------------------------------------------------------------


def test_progress_of_a_goal_with_a_due_date(
    api: APIClient, make_goal: Callable[..., Goal], dynamo_calls: DynamoCalls
) -> None:
    today = datetime.now(UTC).date()
    start = today - timedelta(days=9)
    goal = make_goal(kind="amount", target=Decimal(100), period="none", unit="km",
                     start_date=start, due_date=today + timedelta(days=10))  # fmt: skip
    for value, hour in (("12.5", 1), ("7.25", 2), ("0.25", 3)):
        moment = utc(start.year, start.month, start.day, hour)
        last = logged(api, goal.goal_id, value=value, occurred_at=rfc3339(moment))
    dynamo_calls.reset()
    progress = goal_progress(api, goal.goal_id)
    assert dynamo_calls() == {"GetItem": 1, "BatchGetItem": 1}
    assert progress == {
        "goal_id": goal.goal_id,
        "title": "Run",
        "kind": "amount",
        "unit": "km",
        "period": "none",
        "timezone": "UTC",
        "total": "20",
        "target": "100",
        "percent": "20",
        "remaining": "80",
        "activity_count": 3,
        "last_activity_at": last["occurred_at"],
        "current_period": None,
        "current_streak": None,
        "longest_streak": None,
        "pace_per_day": "2",  # 20 over 10 days
        "pace_needed_per_day": "7.2727",  # 80 over the 11 days left, today included
        "forecast_total": "40",  # 20 + 10 more days at 2
        "on_track": False,
    }


def test_progress_of_a_daily_habit(api: APIClient, make_goal: Callable[..., Goal]) -> None:
    now = utcnow()
    today = now.date()
    goal = make_goal(start_date=today - timedelta(days=5))
    logged(api, goal.goal_id, occurred_at=rfc3339(now - timedelta(days=2)))
    logged(api, goal.goal_id, occurred_at=rfc3339(now - timedelta(days=1)))
    logged(api, goal.goal_id, occurred_at=rfc3339(now))
    progress = goal_progress(api, goal.goal_id)
    assert progress["current_period"] == {
        "key": today.isoformat(),
        "start": today.isoformat(),
        "end": today.isoformat(),
        "value": "1",
        "target": "1",
        "met": True,
        "activity_count": 1,
    }
    assert (progress["current_streak"], progress["longest_streak"]) == (3, 3)
    assert (progress["total"], progress["activity_count"]) == ("3", 3)
    assert (progress["target"], progress["percent"], progress["remaining"]) == (None, None, None)
    assert progress["pace_per_day"] == "0.5"  # 3 over 6 days
    assert (progress["pace_needed_per_day"], progress["forecast_total"]) == (None, None)
    assert progress["on_track"] is True


def test_the_progress_summary(
    api: APIClient, make_goal: Callable[..., Goal], other_user: User, dynamo_calls: DynamoCalls
) -> None:
    archived = make_goal()
    goal_archive(user_id=archived.user_id, goal_id=archived.goal_id)
    goals = [make_goal(kind="count", target=Decimal(n + 1)) for n in range(3)]
    for goal in goals[:2]:
        logged(api, goal.goal_id, value=2)
    new_goal(other_user.user_id)
    dynamo_calls.reset()
    response = api.get(PROGRESS, {"limit": 100})
    assert response.status_code == 200, response.content
    assert sum(dynamo_calls().values()) <= 3
    body = response.json()
    assert body["next_cursor"] is None
    assert [item["goal_id"] for item in body["items"]] == [g.goal_id for g in reversed(goals)]
    for item in body["items"]:
        assert item == goal_progress(api, item["goal_id"])
    assert [item["total"] for item in body["items"]] == ["0", "2", "2"]
    visited = follow(api, PROGRESS, dynamo_calls, "goal_id", limit=1)
    assert [goal_id for page in visited for goal_id in page] == [
        goal.goal_id for goal in reversed(goals)
    ]


def test_the_summary_of_nobody_is_empty(api: APIClient) -> None:
    assert api.get(PROGRESS).json() == {"items": [], "next_cursor": None}
    assert_error(api.get(PROGRESS, {"limit": 0}), 400, "validation_error", "limit")
