"""Delta sync across devices: GET /api/v1/sync, through HTTP into the table."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from activities.models import Activity, activity_sk
from lifestyle.dynamo import user_pk
from lifestyle.timeutil import rfc3339, utcnow
from sync import selectors
from sync.models import INDEX_NAME, TOMBSTONE_DAYS, Tombstone, tombstone_sk
from tests.conftest import DynamoCalls, User, assert_error

SYNC = "/api/v1/sync"
GOALS = "/api/v1/goals"


def sync_all(client: APIClient, cursor: str | None = None, limit: int = 200) -> dict[str, Any]:
    """Every page from ``cursor`` until caught up, merged as a device would."""
    merged: dict[str, Any] = {"profile": None, "goals": {}, "activities": {}, "deleted": {}}
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = client.get(SYNC, params)
        assert response.status_code == 200, response.content
        assert response["Cache-Control"] == "no-store"
        body = response.json()
        pages += 1
        merged["snapshot"] = body["snapshot"]
        merged["profile"] = body["profile"] or merged["profile"]
        for goal in body["goals"]:
            merged["goals"][goal["id"]] = goal
        for activity in body["activities"]:
            merged["activities"][activity["id"]] = activity
            merged["deleted"].pop(activity["id"], None)
        for gone in body["deleted"]:
            merged["activities"].pop(gone["id"], None)
            merged["deleted"][gone["id"]] = gone
        cursor = body["cursor"]
        if not body["has_more"]:
            merged["cursor"], merged["pages"] = cursor, pages
            return merged


def new_goal(client: APIClient, **fields: Any) -> dict[str, Any]:
    body = {"title": "Run", "kind": "amount", "unit": "km", "target": "100", **fields}
    response = client.post(GOALS, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def log(client: APIClient, goal_id: str, value: str = "5", **fields: Any) -> dict[str, Any]:
    body = {"value": value, "occurred_at": rfc3339(utcnow() - timedelta(minutes=5)), **fields}
    response = client.post(f"{GOALS}/{goal_id}/activities", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_first_sync_is_a_snapshot_of_everything(api: APIClient, user: User) -> None:
    api.patch("/api/v1/me", {"display_name": "Ana"}, format="json")
    goal = new_goal(api)
    archived = new_goal(api, title="Swim")
    api.post(f"{GOALS}/{archived['id']}/archive")
    kept = log(api, goal["id"], note="Café ☕")
    gone = log(api, goal["id"], "2")
    assert api.delete(f"/api/v1/activities/{gone['id']}").status_code == 204

    snapshot = sync_all(api)
    assert snapshot["snapshot"] is True
    assert snapshot["profile"]["display_name"] == "Ana"
    assert set(snapshot["goals"]) == {goal["id"], archived["id"]}
    assert snapshot["goals"][archived["id"]]["status"] == "archived"
    assert snapshot["activities"] == {kept["id"]: kept}
    assert snapshot["deleted"] == {}  # a snapshot holds what exists
    # What sync gives equals what the resource endpoints give.
    assert snapshot["goals"][goal["id"]] == api.get(f"{GOALS}/{goal['id']}").json()


def test_an_empty_account_syncs_to_nothing(api: APIClient) -> None:
    snapshot = sync_all(api)
    assert (snapshot["profile"], snapshot["goals"], snapshot["activities"]) == (None, {}, {})
    again = sync_all(api, snapshot["cursor"])
    assert again["snapshot"] is False
    assert (again["goals"], again["activities"], again["deleted"]) == ({}, {}, {})


def test_two_devices_one_offline_batch_and_a_deletion(user: User) -> None:
    """The phone logs offline and sends a batch when back; the tablet sees
    the new activities; the tablet deletes one; the phone sees the deletion."""
    phone, tablet = user.client(), user.client(token=user.id_token)
    goal = new_goal(phone)
    phone_state = sync_all(phone)
    tablet_state = sync_all(tablet)
    assert set(tablet_state["goals"]) == {goal["id"]}

    offline = [
        {
            "id": str(uuid.uuid4()),
            "goal_id": goal["id"],
            "value": str(n),
            "occurred_at": rfc3339(utcnow() - timedelta(hours=n)),
            "note": f"run {n}",
        }
        for n in (1, 2, 3)
    ]
    sent = phone.post("/api/v1/activities:batch", {"activities": offline}, format="json")
    assert sent.status_code == 200, sent.content
    assert [result["status"] for result in sent.json()["results"]] == ["created"] * 3

    seen = sync_all(tablet, tablet_state["cursor"])
    assert seen["snapshot"] is False
    assert set(seen["activities"]) == {item["id"] for item in offline}
    # The goal did not change: at most it comes again, as it was, from the
    # last seconds before the tablet's previous sync.
    assert [g["version"] for g in seen["goals"].values()] in ([], [1])

    victim = offline[1]["id"]
    assert tablet.delete(f"/api/v1/activities/{victim}").status_code == 204
    renamed = tablet.patch(
        f"{GOALS}/{goal['id']}", {"title": "Run far"}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert renamed.status_code == 200

    phone_seen = sync_all(phone, phone_state["cursor"])
    assert set(phone_seen["deleted"]) == {victim}
    assert phone_seen["deleted"][victim]["type"] == "activity"
    assert phone_seen["deleted"][victim]["goal_id"] == goal["id"]
    assert set(phone_seen["activities"]) == {offline[0]["id"], offline[2]["id"]}
    assert phone_seen["goals"][goal["id"]]["title"] == "Run far"


def test_a_caught_up_cursor_gives_only_the_last_seconds_again(
    api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    goal = new_goal(api)
    first = sync_all(api)
    # Within SETTLE of the snapshot the goal may come again (harmless: same version)...
    again = sync_all(api, first["cursor"])
    assert set(again["goals"]) <= {goal["id"]}
    # ...and once the clock has moved past it, nothing comes.
    later = utcnow() + selectors.SETTLE * 2
    monkeypatch.setattr(selectors, "utcnow", lambda: later)
    settled = sync_all(api, sync_all(api, again["cursor"])["cursor"])
    assert (settled["goals"], settled["activities"], settled["deleted"]) == ({}, {}, {})


def test_pages_are_one_query_each_and_lose_nothing(
    api: APIClient, user: User, dynamo_calls: DynamoCalls
) -> None:
    goal = new_goal(api)
    logged = {log(api, goal["id"], str(n))["id"] for n in range(1, 8)}
    dynamo_calls.reset()
    snapshot = sync_all(api, limit=3)
    assert snapshot["pages"] >= 3
    assert dynamo_calls() == {"Query": snapshot["pages"]}
    assert set(snapshot["activities"]) == logged
    assert set(snapshot["goals"]) == {goal["id"]}


def test_a_deleted_and_recreated_id_ends_as_the_later_change(api: APIClient) -> None:
    goal = new_goal(api)
    start = sync_all(api)
    client_id = str(uuid.uuid4())
    log(api, goal["id"], id=client_id)
    api.delete(f"/api/v1/activities/{client_id}")
    again = log(api, goal["id"], "7", id=client_id)
    seen = sync_all(api, start["cursor"])
    assert seen["activities"] == {client_id: again}
    assert seen["deleted"] == {}


def test_tombstones_expire_with_ttl_and_old_cursors_are_refused(
    api: APIClient, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    goal = new_goal(api)
    activity = log(api, goal["id"])
    cursor = sync_all(api)["cursor"]
    api.delete(f"/api/v1/activities/{activity['id']}")

    stone = Tombstone.get(user_pk(user.user_id), tombstone_sk("activity", activity["id"]))
    kept_for = datetime.fromtimestamp(stone.expires_at, UTC) - stone.updated_at
    assert kept_for >= timedelta(days=TOMBSTONE_DAYS)
    with pytest.raises(Activity.DoesNotExist):
        Activity.get(user_pk(user.user_id), activity_sk(activity["id"]))

    # Within the window the deletion arrives...
    day_29 = utcnow() + timedelta(days=TOMBSTONE_DAYS - 1)
    monkeypatch.setattr(selectors, "utcnow", lambda: day_29)
    assert set(sync_all(api, cursor)["deleted"]) == {activity["id"]}
    # ...after it, DynamoDB's TTL may have removed the tombstone: the cursor
    # is refused with a clear answer, and a snapshot starts afresh.
    day_31 = utcnow() + timedelta(days=TOMBSTONE_DAYS + 1)
    monkeypatch.setattr(selectors, "utcnow", lambda: day_31)
    error = assert_error(api.get(SYNC, {"cursor": cursor}), 410, "cursor_expired")
    assert "snapshot" in error["message"]
    fresh = sync_all(api)
    assert fresh["snapshot"] is True
    assert fresh["activities"] == {}


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 501},
        {"limit": "ten"},
        {"cursor": "not-a-cursor"},
        {"cursor": "x" * 3000},
        {"cursor": ""},
        {"limt": "5"},
    ],
)
def test_bad_parameters_are_refused(api: APIClient, params: dict[str, Any]) -> None:
    assert_error(api.get(SYNC, params), 400, "validation_error")


def test_another_users_or_an_edited_cursor_is_refused(api: APIClient, other_user: User) -> None:
    new_goal(api)
    cursor = sync_all(api)["cursor"]
    assert_error(other_user.client().get(SYNC, {"cursor": cursor}), 400, "validation_error")
    edited = cursor[:-3] + ("AAA" if cursor[-3:] != "AAA" else "BBB")
    assert_error(api.get(SYNC, {"cursor": edited}), 400, "validation_error")


def test_sync_sees_only_the_callers_data(api: APIClient, other_user: User) -> None:
    new_goal(other_user.client())
    assert sync_all(api)["goals"] == {}


def test_anonymous_is_refused(anonymous: APIClient) -> None:
    assert anonymous.get(SYNC).status_code == 401


def test_the_index_is_provisioned_as_the_model_reads_it(aws_stack: dict[str, str]) -> None:
    from lifestyle.aws import client

    table = client("dynamodb").describe_table(TableName=aws_stack["table"])["Table"]
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    keys = [(key["AttributeName"], key["KeyType"]) for key in indexes[INDEX_NAME]["KeySchema"]]
    assert keys == [("sync_pk", "HASH"), ("updated_at", "RANGE")]
