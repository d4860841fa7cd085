"""The consistency checker (activities/consistency.py, manage.py
check_consistency): goals written through the API check clean whatever
their calendar and history; aggregates corrupted directly in DynamoDB are
found field by field and repaired, activities never touched; a repair
loses to a concurrent write."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from activities import consistency
from activities.consistency import DRIFT, MISPLACED, MISSING_GOAL, ORPHAN, Finding
from activities.services import activity_log
from goals.services import goal_create
from lifestyle.aws import client
from lifestyle.data_migrations.records import from_dynamo, to_dynamo
from lifestyle.provisioning import ensure_table
from tests.conftest import User, manage_py
from tests.lifestyle.test_data_migrations import Terminal, api_on
from tests.lifestyle.test_throttling import PROVISIONED, Throttle, dynamodb_clients

NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.date()
GOALS = "/api/v1/goals"


# --- helpers ---------------------------------------------------------------------------------


def create_goal(api: APIClient, **fields: Any) -> str:
    body = {"title": "Goal", "start_date": (TODAY - timedelta(days=90)).isoformat(), **fields}
    response = api.post(GOALS, body, format="json")
    assert response.status_code == 201, response.content
    return str(response.json()["id"])


def value_for(kind: str, number: int) -> Any:
    return {"habit": None, "count": number, "amount": f"{number}.25", "duration": 600 * number}[
        kind
    ]


def log(api: APIClient, goal_id: str, when: datetime, value: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"occurred_at": when.isoformat()}
    if value is not None:
        body["value"] = value
    response = api.post(f"{GOALS}/{goal_id}/activities", body, format="json")
    assert response.status_code == 201, response.content
    return {**response.json(), "etag": response["ETag"]}


def edit(api: APIClient, activity: dict[str, Any], **changes: Any) -> dict[str, Any]:
    if "occurred_at" in changes:
        changes["occurred_at"] = changes["occurred_at"].isoformat()
    response = api.patch(
        f"/api/v1/activities/{activity['id']}",
        changes,
        format="json",
        HTTP_IF_MATCH=activity["etag"],
    )
    assert response.status_code == 200, response.content
    return {**response.json(), "etag": response["ETag"]}


def delete(api: APIClient, activity: dict[str, Any]) -> None:
    response = api.delete(f"/api/v1/activities/{activity['id']}")
    assert response.status_code == 204, response.content


def key(user_id: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": f"USER#{user_id}"}, "sk": {"S": sk}}


def get_raw(user_id: str, sk: str) -> dict[str, Any] | None:
    found = client("dynamodb").get_item(
        TableName=settings.DYNAMODB_TABLE, Key=key(user_id, sk), ConsistentRead=True
    )
    return from_dynamo(found["Item"]) if "Item" in found else None


def corrupt(user_id: str, sk: str, **values: Any) -> None:
    """Set attributes of a stored item behind the API's back (no version bump)."""
    names = {f"#a{i}": name for i, name in enumerate(values)}
    client("dynamodb").update_item(
        TableName=settings.DYNAMODB_TABLE,
        Key=key(user_id, sk),
        UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(values))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=to_dynamo(
            {f":v{i}": value for i, value in enumerate(values.values())}
        ),
        ConditionExpression="attribute_exists(pk)",
    )


def delete_raw(user_id: str, sk: str) -> None:
    client("dynamodb").delete_item(TableName=settings.DYNAMODB_TABLE, Key=key(user_id, sk))


def put_orphan_bucket(user_id: str, goal_id: str, period_key: str) -> None:
    item = {
        "pk": f"USER#{user_id}",
        "sk": f"BUCKET#{goal_id}#{period_key}",
        "type": "PeriodBucket",
        "goal_id": goal_id,
        "period_key": period_key,
        "total": Decimal(4),
        "activity_count": 2,
        "version": 1,
        "schema_version": 1,
        "created_at": "2026-01-01T00:00:00.000000+0000",
        "updated_at": "2026-01-01T00:00:00.000000+0000",
    }
    client("dynamodb").put_item(TableName=settings.DYNAMODB_TABLE, Item=to_dynamo(item))


def activities_raw(user_id: str) -> dict[str, dict[str, Any]]:
    """Every activity item of the user, as stored."""
    pages = (
        client("dynamodb")
        .get_paginator("query")
        .paginate(
            TableName=settings.DYNAMODB_TABLE,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :act)",
            ExpressionAttributeValues={":pk": {"S": f"USER#{user_id}"}, ":act": {"S": "ACTIVITY#"}},
            ConsistentRead=True,
        )
    )
    return {item["sk"]["S"]: item for page in pages for item in page["Items"]}


def summary(findings: list[Finding]) -> set[tuple[str, str]]:
    return {(finding.kind, finding.subject) for finding in findings}


def progress(api: APIClient, goal_id: str) -> dict[str, Any]:
    response = api.get(f"{GOALS}/{goal_id}/progress")
    assert response.status_code == 200, response.content
    return dict(response.json())


def daily_goal_with_history(api: APIClient) -> tuple[str, list[dict[str, Any]]]:
    """A daily count goal (target 2) met on three days, two in a row."""
    goal_id = create_goal(api, kind="count", target="2", period="daily", timezone="UTC")
    logged = [
        log(api, goal_id, NOW - timedelta(days=days, hours=1), 1) for days in (5, 5, 2, 1, 1, 0, 0)
    ]
    return goal_id, logged


# --- healthy goals check clean -----------------------------------------------------------------


GOAL_SHAPES: dict[str, dict[str, Any]] = {
    "daily-count-kolkata": {"kind": "count", "target": "3", "period": "daily",
                            "timezone": "Asia/Kolkata"},
    "weekly-habit-sunday-night-owl": {"kind": "habit", "target": "2", "period": "weekly",
                                      "timezone": "America/New_York", "week_start": "sunday",
                                      "day_start_hour": 4},
    "monthly-amount-berlin": {"kind": "amount", "target": "10.5", "period": "monthly",
                              "timezone": "Europe/Berlin"},
    "one-off-duration": {"kind": "duration", "target": "36000", "period": "none",
                         "timezone": "UTC"},
}  # fmt: skip


@pytest.mark.parametrize("shape", sorted(GOAL_SHAPES))
def test_a_goal_written_through_the_api_checks_clean(
    api: APIClient, user: User, shape: str
) -> None:
    fields = GOAL_SHAPES[shape]
    kind = fields["kind"]
    goal_id = create_goal(api, **fields)
    days_ago = [62, 40, 33, 20, 14, 13, 13, 8, 7, 7, 2, 1, 0, 0]
    logged = [
        log(api, goal_id, NOW - timedelta(days=days, hours=3 * n % 7), value_for(kind, n % 3 + 1))
        for n, days in enumerate(days_ago)
    ]
    # Edits that move activities across periods, one emptying its period;
    # a value change; deletes, one of them the latest activity.
    edit(api, logged[0], occurred_at=NOW - timedelta(days=3, hours=5))  # day 62 left alone
    edit(api, logged[5], occurred_at=NOW - timedelta(days=45))
    if kind != "habit":
        edit(api, logged[8], value=value_for(kind, 3), note="corrected")
    edit(api, logged[9], occurred_at=NOW - timedelta(days=27, minutes=10), note="moved")
    delete(api, logged[3])
    delete(api, max(logged[11:], key=lambda a: a["occurred_at"]))

    found = consistency.snapshot(user.user_id, goal_id)

    assert found is not None
    assert found.findings() == []
    stored = found.stored_progress
    assert stored is not None
    assert stored.activity_count == len(days_ago) - 2
    if fields["period"] != "none":
        assert stored.met_runs != "[]"  # the runs were exercised, not trivially equal
        assert len(found.stored_buckets) >= 2
        emptied = found.goal.period_key(found.goal.local_date(NOW - timedelta(days=62)))
        assert emptied not in found.stored_buckets  # its only activity moved out
    assert consistency.check_user(user.user_id).findings == []


def test_an_empty_goal_and_a_user_with_nothing_check_clean(api: APIClient, user: User) -> None:
    goal_id = create_goal(api, kind="habit", period="daily")
    assert consistency.check_goal(user.user_id, goal_id) == []
    report = consistency.check_user(user.user_id)
    assert (report.goals, report.findings) == (1, [])
    assert consistency.check_user(str(uuid.uuid4())).goals == 0


def test_a_target_change_keeps_past_verdicts_and_later_periods_are_judged(
    api: APIClient, user: User
) -> None:
    """README: a target change applies from the current period on. Days
    met under the old target stay met; a day written after the change is
    judged by the new one."""
    goal_id, _ = daily_goal_with_history(api)
    goal = api.get(f"{GOALS}/{goal_id}")
    changed = api.patch(
        f"{GOALS}/{goal_id}", {"target": "5"}, format="json", HTTP_IF_MATCH=goal["ETag"]
    )
    assert changed.status_code == 200, changed.content
    before = get_raw(user.user_id, f"PROGRESS#{goal_id}")
    assert before is not None

    assert consistency.check_goal(user.user_id, goal_id) == []  # yesterday's streak stands

    late = log(api, goal_id, NOW - timedelta(days=3, hours=1), 5)  # met under the new target
    assert consistency.check_goal(user.user_id, goal_id) == []
    index = date.fromisoformat(late["local_date"]).toordinal()
    corrupt(user.user_id, f"PROGRESS#{goal_id}", met_runs=before["met_runs"])  # day 3 not met
    findings = consistency.check_goal(user.user_id, goal_id)
    assert summary(findings) == {(DRIFT, "met_runs")}
    assert str(index) in findings[0].expected


# --- drift found and repaired -------------------------------------------------------------------


def test_drift_is_found_field_by_field_and_repaired_without_touching_activities(
    api: APIClient, user: User
) -> None:
    goal_id, logged = daily_goal_with_history(api)
    sub = user.user_id
    expected = progress(api, goal_id)
    day = {activity["local_date"] for activity in logged}
    yesterday, two_days_ago = sorted(day)[-2], sorted(day)[-3]
    orphan_day = (TODAY - timedelta(days=30)).isoformat()
    corrupt(
        sub,
        f"PROGRESS#{goal_id}",
        total=Decimal(99),
        activity_count=3,
        last_activity_at="2020-01-01T00:00:00.000000+0000",
        met_runs="[]",
    )
    corrupt(sub, f"BUCKET#{goal_id}#{yesterday}", total=Decimal("7.5"))
    delete_raw(sub, f"BUCKET#{goal_id}#{two_days_ago}")
    put_orphan_bucket(sub, goal_id, orphan_day)
    activities_before = activities_raw(sub)
    assert progress(api, goal_id)["total"] == "99"

    findings = consistency.check_goal(sub, goal_id)

    assert summary(findings) == {
        (DRIFT, "total"),
        (DRIFT, "activity_count"),
        (DRIFT, "last_activity_at"),
        (DRIFT, "met_runs"),
        (DRIFT, f"bucket {yesterday} total"),
        (DRIFT, f"bucket {two_days_ago}"),
        (ORPHAN, f"bucket {orphan_day}"),
    }
    by_subject = {finding.subject: finding for finding in findings}
    assert (by_subject["total"].stored, by_subject["total"].expected) == ("99", "7")
    assert by_subject["activity_count"].expected == "7"
    assert by_subject[f"bucket {yesterday} total"].stored == "7.5"
    assert by_subject[f"bucket {two_days_ago}"].stored == "none"
    assert all(f.user_id == sub and f.goal_id == goal_id for f in findings)

    result = consistency.repair_goal(sub, goal_id)

    assert result.outcome == consistency.REPAIRED
    assert summary(list(result.fixed)) == summary(findings)
    assert consistency.check_goal(sub, goal_id) == []
    assert get_raw(sub, f"BUCKET#{goal_id}#{orphan_day}") is None
    assert activities_raw(sub) == activities_before
    repaired = progress(api, goal_id)
    assert repaired == expected
    assert (repaired["total"], repaired["current_streak"]) == ("7", expected["current_streak"])
    assert consistency.repair_goal(sub, goal_id).outcome == consistency.NOTHING_TO_DO


def test_a_repaired_goal_takes_new_writes_normally(api: APIClient, user: User) -> None:
    goal_id, _ = daily_goal_with_history(api)
    corrupt(user.user_id, f"PROGRESS#{goal_id}", total=Decimal(1))
    assert consistency.repair_goal(user.user_id, goal_id).outcome == consistency.REPAIRED

    log(api, goal_id, NOW - timedelta(hours=2), 4)

    assert progress(api, goal_id)["total"] == "11"
    assert consistency.check_goal(user.user_id, goal_id) == []


def test_unreadable_runs_are_drift_and_repaired(api: APIClient, user: User) -> None:
    goal_id, _ = daily_goal_with_history(api)
    corrupt(user.user_id, f"PROGRESS#{goal_id}", met_runs="[[5, 3]]")
    assert summary(consistency.check_goal(user.user_id, goal_id)) == {(DRIFT, "met_runs")}
    assert consistency.repair_goal(user.user_id, goal_id).outcome == consistency.REPAIRED
    assert consistency.check_goal(user.user_id, goal_id) == []


def test_a_lost_progress_item_is_drift_and_repaired(api: APIClient, user: User) -> None:
    goal_id = create_goal(api, kind="amount", target="10", timezone="UTC")
    log(api, goal_id, NOW - timedelta(days=1), "2.5")
    delete_raw(user.user_id, f"PROGRESS#{goal_id}")

    assert summary(consistency.check_goal(user.user_id, goal_id)) == {
        (DRIFT, "total"),
        (DRIFT, "activity_count"),
        (DRIFT, "last_activity_at"),
    }
    assert consistency.repair_goal(user.user_id, goal_id).outcome == consistency.REPAIRED
    assert progress(api, goal_id)["total"] == "2.5"


def test_buckets_on_a_one_off_goal_and_of_empty_periods_are_orphans(
    api: APIClient, user: User
) -> None:
    goal_id = create_goal(api, kind="count", target="10", timezone="UTC")
    log(api, goal_id, NOW, 3)
    put_orphan_bucket(user.user_id, goal_id, "all")

    assert summary(consistency.check_goal(user.user_id, goal_id)) == {(ORPHAN, "bucket all")}
    assert consistency.repair_goal(user.user_id, goal_id).outcome == consistency.REPAIRED
    assert get_raw(user.user_id, f"BUCKET#{goal_id}#all") is None
    assert consistency.check_goal(user.user_id, goal_id) == []


def test_an_archived_goal_is_repaired_too(api: APIClient, user: User) -> None:
    goal_id, _ = daily_goal_with_history(api)
    assert api.post(f"{GOALS}/{goal_id}/archive").status_code == 200
    corrupt(user.user_id, f"PROGRESS#{goal_id}", total=Decimal(0))

    assert consistency.repair_goal(user.user_id, goal_id).outcome == consistency.REPAIRED
    assert consistency.check_goal(user.user_id, goal_id) == []


def test_a_repair_split_over_several_transactions(
    api: APIClient, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More buckets to fix than one transaction holds: each part but the
    last checks the progress version, the last writes it."""
    monkeypatch.setattr(consistency, "BUCKETS_PER_TRANSACTION", 2)
    goal_id, logged = daily_goal_with_history(api)
    for day in sorted({activity["local_date"] for activity in logged}):
        delete_raw(user.user_id, f"BUCKET#{goal_id}#{day}")
    put_orphan_bucket(user.user_id, goal_id, (TODAY - timedelta(days=30)).isoformat())
    assert len(consistency.check_goal(user.user_id, goal_id)) == 5

    assert consistency.repair_goal(user.user_id, goal_id).outcome == consistency.REPAIRED
    assert consistency.check_goal(user.user_id, goal_id) == []


# --- report-only findings -------------------------------------------------------------------------


def test_an_activity_off_its_goals_calendar_is_reported_not_repaired(
    api: APIClient, user: User
) -> None:
    goal_id = create_goal(
        api, kind="count", target="3", period="monthly", timezone="Pacific/Auckland"
    )
    activity = log(api, goal_id, NOW - timedelta(days=1), 2)
    stored_day = date.fromisoformat(activity["local_date"])
    other_day = stored_day.replace(day=15 if stored_day.day != 15 else 16)  # same month
    sk = f"ACTIVITY#{activity['id']}"
    corrupt(user.user_id, sk, local_date=other_day.isoformat())
    before = get_raw(user.user_id, sk)

    findings = consistency.check_goal(user.user_id, goal_id)

    assert [(f.kind, f.subject, f.stored, f.expected) for f in findings] == [
        (MISPLACED, f"activity {activity['id']} local_date", other_day.isoformat(),
         stored_day.isoformat()),
    ]  # fmt: skip
    assert not findings[0].repairable
    assert consistency.repair_goal(user.user_id, goal_id).outcome == consistency.NOTHING_TO_DO
    assert get_raw(user.user_id, sk) == before


def test_activities_of_a_goal_that_does_not_exist_are_reported(api: APIClient, user: User) -> None:
    goal_id, logged = daily_goal_with_history(api)
    healthy = create_goal(api, kind="habit", period="weekly")
    log(api, healthy, NOW, None)
    delete_raw(user.user_id, f"GOAL#{goal_id}")

    report = consistency.check_user(user.user_id)

    assert report.goals == 1
    assert {(f.kind, f.goal_id) for f in report.findings} == {(MISSING_GOAL, goal_id)}
    assert summary(report.findings) == {
        *((MISSING_GOAL, f"activity {a['id']}") for a in logged),
        (MISSING_GOAL, "aggregates"),
    }
    assert not any(finding.repairable for finding in report.findings)
    assert consistency.check_goal(user.user_id, goal_id) == []  # nothing left to compare
    assert consistency.repair_goal(user.user_id, goal_id).outcome == consistency.GONE


# --- repairs lose to concurrent writes ------------------------------------------------------------


def test_a_repair_loses_to_a_concurrent_write_then_retries(
    api: APIClient, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    goal_id, _ = daily_goal_with_history(api)
    corrupt(user.user_id, f"PROGRESS#{goal_id}", total=Decimal(50))
    real_snapshot = consistency.snapshot
    written: list[str] = []

    def snapshot_then_a_write(user_id: str, goal: str) -> Any:
        found = real_snapshot(user_id, goal)
        if not written:  # the API writes between the repair's read and its write
            activity, _ = activity_log(
                user_id=user_id, goal_id=goal, occurred_at=NOW - timedelta(hours=1), value=10
            )
            written.append(activity.activity_id)
        return found

    monkeypatch.setattr(consistency, "snapshot", snapshot_then_a_write)

    result = consistency.repair_goal(user.user_id, goal_id)

    assert (result.outcome, result.attempts) == (consistency.REPAIRED, 2)
    monkeypatch.undo()
    assert consistency.check_goal(user.user_id, goal_id) == []
    assert progress(api, goal_id)["total"] == "17"  # 7 logged before, and the concurrent 10


def test_a_repair_that_always_loses_gives_up_and_writes_nothing(
    api: APIClient, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    goal_id, _ = daily_goal_with_history(api)
    corrupt(user.user_id, f"PROGRESS#{goal_id}", total=Decimal(50))
    real_snapshot = consistency.snapshot

    def snapshot_then_a_write(user_id: str, goal: str) -> Any:
        found = real_snapshot(user_id, goal)
        activity_log(user_id=user_id, goal_id=goal, occurred_at=NOW, value=1)
        return found

    monkeypatch.setattr(consistency, "snapshot", snapshot_then_a_write)

    result = consistency.repair_goal(user.user_id, goal_id)

    assert (result.outcome, result.attempts) == (consistency.BUSY, consistency.REPAIR_ATTEMPTS)
    monkeypatch.undo()
    # Every API write built on the drifted total; the repair never overwrote one.
    assert progress(api, goal_id)["total"] == str(50 + consistency.REPAIR_ATTEMPTS)
    assert {f.subject for f in consistency.check_goal(user.user_id, goal_id)} == {"total"}


def test_a_check_under_a_concurrent_write_takes_its_snapshot_again(
    api: APIClient, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that lands between reading the totals and reading the
    activities is no drift: the progress version moved, so it reads again."""
    goal_id, _ = daily_goal_with_history(api)
    real_replay = consistency.replay
    writes: list[str] = []

    def replay_during_a_write(goal: Any, activities: Any, stored_runs: Any = None) -> Any:
        if not writes:
            activity, _ = activity_log(
                user_id=user.user_id, goal_id=goal_id, occurred_at=NOW, value=2
            )
            writes.append(activity.activity_id)
        return real_replay(goal, activities, stored_runs)

    monkeypatch.setattr(consistency, "replay", replay_during_a_write)

    assert consistency.check_goal(user.user_id, goal_id) == []
    assert writes


def test_a_goal_that_never_holds_still_is_busy(
    api: APIClient, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    goal_id, _ = daily_goal_with_history(api)
    real_replay = consistency.replay

    def replay_during_a_write(goal: Any, activities: Any, stored_runs: Any = None) -> Any:
        activity_log(user_id=user.user_id, goal_id=goal_id, occurred_at=NOW, value=1)
        return real_replay(goal, activities, stored_runs)

    monkeypatch.setattr(consistency, "replay", replay_during_a_write)

    with pytest.raises(consistency.GoalBusy):
        consistency.check_goal(user.user_id, goal_id)
    report = consistency.check_user(user.user_id)
    assert report.busy == [(user.user_id, goal_id)]


# --- manage.py check_consistency ------------------------------------------------------------------


def command(*args: str, **options: Any) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("check_consistency", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def failing(*args: str, **options: Any) -> tuple[str, str, CommandError]:
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("check_consistency", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue(), raised.value


@pytest.fixture
def drifted(api: APIClient, user: User) -> str:
    goal_id, _ = daily_goal_with_history(api)
    corrupt(user.user_id, f"PROGRESS#{goal_id}", total=Decimal(3))
    return goal_id


def test_command_healthy_user_exits_zero(api: APIClient, user: User) -> None:
    daily_goal_with_history(api)
    out, err = command("--user", user.user_id)
    assert f"Checking the goals of user {user.user_id}" in out
    assert "Checked 1 goal(s): 0 finding(s) on 0 goal(s), 0 repairable." in out
    assert out.endswith("Consistent.\n")
    assert "1 goal(s) checked, 0 with findings" in err


def test_command_reports_drift_and_exits_one(user: User, drifted: str) -> None:
    out, _, error = failing("--user", user.user_id)
    assert f"drift        user {user.user_id} goal {drifted} total: stored 3, expected 7" in out
    assert "1 goal(s) with drift not repaired" in str(error)
    assert error.returncode == 1
    assert consistency.check_goal(user.user_id, drifted) != []  # nothing was written


def test_command_dry_run_shows_the_writes_and_writes_nothing(user: User, drifted: str) -> None:
    before = get_raw(user.user_id, f"PROGRESS#{drifted}")
    out, _, error = failing("--user", user.user_id, "--dry-run")
    assert "Dry run: nothing was written. A repair would write:" in out
    assert f"put    PROGRESS#{drifted}: total 7, activity_count 7" in out
    assert error.returncode == 1
    assert get_raw(user.user_id, f"PROGRESS#{drifted}") == before


def test_command_repair_asks_first(user: User, drifted: str) -> None:
    with pytest.raises(CommandError, match="Cancelled: nothing was done"):
        command("--user", user.user_id, "--repair", stdin=Terminal("n\n"))
    with pytest.raises(CommandError, match="stdin is not a terminal"):
        command("--user", user.user_id, "--repair", stdin=io.StringIO("y\n"))
    assert consistency.check_goal(user.user_id, drifted) != []

    out, err = command("--user", user.user_id, "--repair", stdin=Terminal("y\n"))

    assert "Rewrite the aggregates of 1 goal(s)" in err
    assert f"user {user.user_id} goal {drifted}: repaired (1 finding(s) fixed)" in out
    assert out.endswith("Consistent.\n")
    assert consistency.check_goal(user.user_id, drifted) == []


def test_command_repair_yes_fixes_drift_and_still_fails_on_report_only_findings(
    api: APIClient, user: User, drifted: str
) -> None:
    orphaned, _ = daily_goal_with_history(api)
    delete_raw(user.user_id, f"GOAL#{orphaned}")

    out, _, error = failing("--user", user.user_id, "--repair", "--yes")

    assert f"goal {drifted}: repaired" in out
    assert f"missing_goal user {user.user_id} goal {orphaned}" in out
    assert "finding(s) no repair can fix" in str(error)
    assert "not repaired" not in str(error)
    assert consistency.check_goal(user.user_id, drifted) == []


@pytest.fixture
def scratch_table() -> Iterator[str]:
    name = f"consistency-test-{uuid.uuid4().hex[:8]}"
    ensure_table(name, lambda line: None)
    with api_on(name):
        yield name
    client("dynamodb").delete_table(TableName=name)


def test_command_checks_every_user_with_a_parallel_scan(scratch_table: str) -> None:
    users = [str(uuid.uuid4()) for _ in range(3)]
    goals = {}
    for user_id in users:
        for period in ("daily", "weekly", "none"):
            goal, _ = goal_create(
                user_id=user_id, title="G", kind="count", target=Decimal(2), period=period,
                start_date=TODAY - timedelta(days=30), timezone="UTC", week_start="sunday",
                day_start_hour=0,
            )  # fmt: skip
            for days in (0, 1, 1, 9):
                activity_log(
                    user_id=user_id, goal_id=goal.goal_id, occurred_at=NOW - timedelta(days=days),
                    value=days + 1,
                )  # fmt: skip
            goals[(user_id, period)] = goal.goal_id
    bad = goals[(users[1], "weekly")]
    client("dynamodb").update_item(
        TableName=scratch_table,
        Key=key(users[1], f"PROGRESS#{bad}"),
        UpdateExpression="SET activity_count = :n",
        ExpressionAttributeValues={":n": {"N": "1"}},
    )

    out, err, error = failing("--segments", "3", "--progress-every", "2")

    assert f"Checking every goal in {scratch_table} (3 segments):" in out
    assert f"drift        user {users[1]} goal {bad} activity_count: stored 1, expected 4" in out
    assert "Checked 9 goal(s): 1 finding(s) on 1 goal(s), 1 repairable." in out
    lines = err.splitlines()
    assert [line.split(" goal(s)")[0] for line in lines] == ["2", "4", "6", "8", "9"]
    assert lines[-1].startswith("9 goal(s) checked, 1 with findings (1 in all), ")
    assert error.returncode == 1

    out, _ = command("--repair", "--yes", "--segments", "2")
    assert f"user {users[1]} goal {bad}: repaired" in out
    assert command()[0].endswith("Consistent.\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--segments", "0"], r"--segments must be between 1 and 32 \(got 0\)"),
        (["--segments", "33"], r"--segments must be between 1 and 32 \(got 33\)"),
        (["--segments", "two"], "invalid int value"),
        (["--progress-every", "0"], r"--progress-every must be at least 1 \(got 0\)"),
        (["--progress-every", "-3"], "--progress-every must be at least 1"),
        (["--yes"], "--yes goes with --repair"),
        (["--repair", "--dry-run"], "not with --repair"),
        (["--user", ""], "--user takes a user's sub"),
        (["--user", "   "], "--user takes a user's sub"),
        (["--user", "a#GOAL#b"], "--user takes a user's sub"),
        (["--user", "two words"], "--user takes a user's sub"),
        (["--user", str(uuid.UUID(int=1)), "--segments", "8"], "leave it out with --user"),
    ],
)
def test_command_bad_arguments(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        command(*args)


def test_command_fails_cleanly_when_aws_stays_busy(
    user: User, drifted: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)
    throttled = Throttle({"GetItem"}, PROVISIONED)
    clients = dynamodb_clients()
    for botocore_client in clients:
        botocore_client.meta.events.register_first("before-send.dynamodb", throttled)
    try:
        _, _, error = failing("--user", user.user_id, "--repair", "--yes")
    finally:
        for botocore_client in clients:
            botocore_client.meta.events.unregister("before-send.dynamodb", throttled)
    assert "AWS failed past its retries" in str(error)
    assert throttled.attempts["GetItem"] == settings.AWS_MAX_ATTEMPTS
    assert consistency.check_goal(user.user_id, drifted) != []  # and nothing was written


def test_command_on_a_missing_table_says_so() -> None:
    with api_on("no-such-table"), pytest.raises(CommandError, match="does not exist"):
        command("--user", str(uuid.UUID(int=1)))


def test_command_line_exits_non_zero_with_the_message() -> None:
    done = manage_py("check_consistency", "--progress-every", "0")
    assert done.returncode == 1
    assert "--progress-every must be at least 1 (got 0)." in done.stderr
