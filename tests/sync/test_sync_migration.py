"""Data migration 0003: goals and activities written before delta sync join
its change index, so the next snapshot includes them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from django.test.utils import override_settings

from lifestyle.aws import client
from lifestyle.data_migrations.m0003_sync_index import migration as m0003
from lifestyle.data_migrations.runner import APPLIED, run_migration
from lifestyle.provisioning import ensure_table
from sync.selectors import sync_page

USER = "7c1d2e9a-0000-4000-8000-000000000001"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def old_items() -> list[dict[str, dict[str, str]]]:
    """A goal and an activity as the code before delta sync wrote them."""
    common = {"pk": {"S": f"USER#{USER}"}, "user_id": {"S": USER}, "version": {"N": "1"}}
    stamp = {"S": "2026-01-02T03:04:05.000000+0000"}
    goal = {
        **common, "sk": {"S": "GOAL#g1"}, "type": {"S": "Goal"}, "goal_id": {"S": "g1"},
        "title": {"S": "Read"}, "kind": {"S": "habit"}, "start_date": {"S": "2026-01-01"},
        "created_at": stamp, "updated_at": stamp,
    }  # fmt: skip
    activity = {
        **common, "sk": {"S": "ACTIVITY#a1"}, "type": {"S": "Activity"},
        "activity_id": {"S": "a1"}, "goal_id": {"S": "g1"}, "value": {"N": "1"},
        "occurred_at": stamp, "local_date": {"S": "2026-01-02"}, "period_key": {"S": "all"},
        "goal_time": {"S": "g1#x"}, "time_key": {"S": "x"},
        "created_at": stamp, "updated_at": stamp,
    }  # fmt: skip
    progress = {**common, "sk": {"S": "PROGRESS#g1"}, "type": {"S": "GoalProgress"}}
    return [goal, activity, progress]


@pytest.fixture
def old_table() -> Iterator[str]:
    name = f"sync-migration-{uuid.uuid4().hex[:8]}"
    ensure_table(name, lambda line: None)
    for item in old_items():
        client("dynamodb").put_item(TableName=name, Item=item)
    with override_settings(DYNAMODB_TABLE=name):
        yield name
    client("dynamodb").delete_table(TableName=name)


def synced_keys() -> set[str]:
    page = sync_page(user_id=USER, position=None, limit=50, now=NOW)
    return {item.sk for item in page.items}


def test_old_items_join_the_change_index(old_table: str) -> None:
    assert synced_keys() == set()
    assert run_migration(m0003, table=old_table, segments=1).outcome == APPLIED
    assert synced_keys() == {"GOAL#g1", "ACTIVITY#a1"}  # aggregates stay out
    stored = client("dynamodb").get_item(
        TableName=old_table, Key={"pk": {"S": f"USER#{USER}"}, "sk": {"S": "GOAL#g1"}}
    )["Item"]
    assert stored["sync_pk"] == {"S": f"USER#{USER}"}
    assert stored["updated_at"] == {"S": "2026-01-02T03:04:05.000000+0000"}  # not a change


def test_the_transform_is_pure_and_idempotent() -> None:
    item = {"pk": "USER#u", "sk": "GOAL#g", "type": "Goal"}
    migrated = m0003.transform(item, NOW)
    assert item == {"pk": "USER#u", "sk": "GOAL#g", "type": "Goal"}
    assert migrated == {**item, "sync_pk": "USER#u"}
    assert m0003.transform(migrated, NOW) == migrated
    assert not m0003.applies_to(migrated)
    assert not m0003.applies_to({"pk": "USER#u", "sk": "PROGRESS#g", "type": "GoalProgress"})
    assert not m0003.applies_to({"pk": "AUDIT#x", "sk": "y"})
