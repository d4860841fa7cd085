"""Goal services and selectors called directly, against moto's DynamoDB.

A user id is any string (Cognito's ``sub`` in production); each test gets
its own, so its partition starts empty.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from goals import selectors, services
from goals.models import Goal
from lifestyle.dynamo import goal_sk, user_pk
from lifestyle.errors import (
    Conflict,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)
from tests.conftest import DynamoCalls, raises
from tests.goals.conftest import CALENDAR, FAR_ZONES, todays_around

START = date(2030, 1, 10)
DUE = date(2030, 3, 1)


@pytest.fixture
def user_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def make(user_id: str):
    """Create a goal for ``user_id`` (a count goal with target 10 unless told)."""

    def create(**fields: Any) -> Goal:
        fields = {
            "user_id": user_id,
            "title": "Read",
            "kind": "count",
            "target": Decimal(10),
            **CALENDAR,
            **fields,
        }
        goal, created = services.goal_create(**fields)
        assert created
        return goal

    return create


def stored(goal: Goal) -> Goal:
    return Goal.get(user_pk(goal.user_id), goal_sk(goal.goal_id))


def update(goal: Goal, version: int | None = 1, user_id: str | None = None, **changes: Any) -> Goal:
    return services.goal_update(
        user_id=user_id or goal.user_id,
        goal_id=goal.goal_id,
        changes=changes,
        expected_version=version,
    )


# --- create ------------------------------------------------------------------------


def test_create_stores_the_goal_with_defaults(make, user_id: str) -> None:
    goal = make(title="Read", target=Decimal("0.1"), kind="amount")
    item = stored(goal)
    assert item.user_id == user_id
    assert (item.title, item.kind, item.target) == ("Read", "amount", Decimal("0.1"))
    assert (item.period, item.timezone, item.status, item.version) == ("none", "UTC", "active", 1)
    assert item.due_date is None
    assert item.created_at == item.updated_at == goal.created_at
    assert goal.version == 1


@pytest.mark.parametrize("zone", FAR_ZONES)
def test_create_starts_today_in_the_goals_timezone(make, zone: str) -> None:
    goal, todays = todays_around(zone, lambda: make(timezone=zone))
    assert stored(goal).start_date in todays


def test_server_ids_are_ulids_in_creation_order(make) -> None:
    first, second = make(), make()
    assert len(first.goal_id) == len(second.goal_id) == 26
    assert first.goal_id < second.goal_id


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"target": None}, "target"),
        ({"kind": "duration", "target": None}, "target"),
        ({"target": Decimal("2.5")}, "target"),
        ({"start_date": START, "due_date": START - timedelta(days=1)}, "due_date"),
        ({"due_date": date(2000, 1, 1)}, "due_date"),  # before today, the default start
    ],
)
def test_create_rules(make, dynamo_calls: DynamoCalls, fields: dict, field: str) -> None:
    with raises(ValidationFailed, field):
        make(**fields)
    assert dynamo_calls() == {}


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "habit", "target": None},
        {"kind": "amount", "target": Decimal("2.5")},
        {"kind": "count", "target": Decimal("3")},
        {"start_date": START, "due_date": START},
    ],
)
def test_create_accepts(make, fields: dict) -> None:
    assert stored(make(**fields)).target == fields.get("target", Decimal(10))


def test_create_rejects_an_id_that_is_no_uuid(make) -> None:
    with raises(ValidationFailed, "id"):
        make(goal_id="not-a-uuid")


# --- idempotent create -------------------------------------------------------------


@pytest.fixture
def client_id() -> str:
    return str(uuid.uuid4())


def test_same_request_again_returns_the_stored_goal(
    make, user_id: str, client_id: str, dynamo_calls: DynamoCalls
) -> None:
    first = make(goal_id=client_id, start_date=START)
    again, created = services.goal_create(
        user_id=user_id,
        goal_id=client_id,
        title="Read",
        kind="count",
        target=Decimal(10),
        start_date=START,
        **CALENDAR,
    )
    assert not created
    assert (again.goal_id, again.version, again.created_at) == (
        client_id,
        1,
        first.created_at,
    )
    assert dynamo_calls() == {"PutItem": 2}
    goals, _ = selectors.goal_list(user_id=user_id, status=None, limit=10, start_key=None)
    assert [g.goal_id for g in goals] == [client_id]


def test_same_request_is_recognised_whatever_the_uuids_spelling(
    make, user_id: str, client_id: str
) -> None:
    make(goal_id=client_id.upper())
    again, created = services.goal_create(
        user_id=user_id,
        goal_id=client_id,
        title="Read",
        kind="count",
        target=Decimal(10),
        **CALENDAR,
    )
    assert (again.goal_id, created) == (client_id, False)


def test_different_request_with_the_same_id_conflicts(
    make, user_id: str, client_id: str, dynamo_calls: DynamoCalls
) -> None:
    mine = make(goal_id=client_id)
    with raises(Conflict):
        make(goal_id=client_id, title="Something else")
    assert dynamo_calls() == {"PutItem": 2}
    assert stored(mine).title == "Read"


def test_the_same_id_belongs_to_each_user_separately(make, client_id: str) -> None:
    mine = make(goal_id=client_id)
    theirs = make(goal_id=client_id, user_id=str(uuid.uuid4()), title="Theirs")
    assert (stored(mine).title, stored(theirs).title) == ("Read", "Theirs")


# --- get and list --------------------------------------------------------------------


def test_get_returns_the_owners_goal_only(make, user_id: str) -> None:
    goal = make()
    assert selectors.goal_get(user_id=user_id, goal_id=goal.goal_id).title == "Read"
    with raises(NotFound):
        selectors.goal_get(user_id=str(uuid.uuid4()), goal_id=goal.goal_id)


@pytest.mark.parametrize(
    "goal_id", ["abc", "../x", "GOAL#x", "z" * 36, "81M8G6FQQKFRPAMMDXP43929VC"]
)
def test_get_of_text_that_is_no_id_asks_nothing(
    user_id: str, goal_id: str, dynamo_calls: DynamoCalls
) -> None:
    with raises(NotFound):
        selectors.goal_get(user_id=user_id, goal_id=goal_id)
    assert dynamo_calls() == {}


def test_get_of_an_unknown_id_is_not_found(user_id: str, dynamo_calls: DynamoCalls) -> None:
    with raises(NotFound):
        selectors.goal_get(user_id=user_id, goal_id=str(uuid.uuid4()))
    assert dynamo_calls() == {"GetItem": 1}


def page_ids(user_id: str, **kwargs: Any) -> tuple[list[str], dict | None]:
    kwargs = {"status": None, "limit": 20, "start_key": None, **kwargs}
    goals, last_key = selectors.goal_list(user_id=user_id, **kwargs)
    return [goal.goal_id for goal in goals], last_key


def test_list_pages_newest_first_one_query_each(
    make, user_id: str, dynamo_calls: DynamoCalls
) -> None:
    created = [make(title=f"Goal {n}").goal_id for n in range(3)]
    make(user_id=str(uuid.uuid4()))  # another user's goal never shows
    dynamo_calls_before = dynamo_calls()
    first, key = page_ids(user_id, limit=2)
    second, end = page_ids(user_id, limit=2, start_key=key)
    assert (first, second, end) == (created[::-1][:2], created[::-1][2:], None)
    assert dynamo_calls()["Query"] - dynamo_calls_before.get("Query", 0) == 2


def test_list_filters_by_status(make, user_id: str) -> None:
    active, archived = make(), make()
    services.goal_archive(user_id=user_id, goal_id=archived.goal_id)
    assert page_ids(user_id, status="archived") == ([archived.goal_id], None)
    assert page_ids(user_id, status="active") == ([active.goal_id], None)
    assert page_ids(user_id, status="completed") == ([], None)


# --- update --------------------------------------------------------------------------


def test_update_changes_fields_and_bumps_the_version(make) -> None:
    goal = make()
    updated = update(goal, title="Read more", target=Decimal(12), due_date=DUE)
    assert (updated.title, updated.target, updated.due_date, updated.version) == (
        "Read more",
        Decimal(12),
        DUE.isoformat(),
        2,
    )
    assert updated.updated_at > goal.updated_at
    assert stored(goal).version == 2


def test_update_with_any_version(make) -> None:
    goal = make()
    update(goal, title="Once")
    assert update(goal, version=None, title="Twice").version == 3


def test_update_with_a_stale_version_is_a_precondition_failure(
    make, dynamo_calls: DynamoCalls
) -> None:
    goal = make()
    update(goal, title="Changed elsewhere")
    calls_before = dynamo_calls()["UpdateItem"]
    with raises(PreconditionFailed):
        update(goal, version=1, title="Mine")
    assert dynamo_calls()["UpdateItem"] == calls_before + 1
    assert stored(goal).title == "Changed elsewhere"


def test_update_of_another_users_goal_is_not_found(make) -> None:
    goal = make()
    with raises(NotFound):
        update(goal, user_id=str(uuid.uuid4()), title="x")
    assert stored(goal).title == "Read"


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({}, set()),
        ({"kind": "habit"}, {"kind"}),
        ({"timezone": "Europe/Paris", "period": "daily"}, {"timezone", "period"}),
        ({"status": "archived"}, {"status"}),
        ({"start_date": DUE, "due_date": START}, {"due_date"}),
    ],
)
def test_update_rejects_before_asking(
    make, dynamo_calls: DynamoCalls, changes: dict, fields: set[str]
) -> None:
    goal = make()
    with raises(ValidationFailed, *fields):
        update(goal, **changes)
    assert dynamo_calls() == {"PutItem": 1}
    assert stored(goal).status == "active"


# Each rule the stored goal decides: the goal created, the change, the field named.
STORED_RULES = [
    ({"kind": "count"}, {"target": None}, "target"),
    ({"kind": "duration"}, {"target": Decimal("2.5")}, "target"),
    ({"start_date": START}, {"due_date": START - timedelta(days=1)}, "due_date"),
    ({"start_date": START, "due_date": DUE}, {"start_date": DUE + timedelta(days=1)}, "start_date"),
]


@pytest.mark.parametrize(("created", "changes", "field"), STORED_RULES)
def test_update_rules_that_depend_on_the_stored_goal(
    make, dynamo_calls: DynamoCalls, created: dict, changes: dict, field: str
) -> None:
    goal = make(**created)
    with raises(ValidationFailed, field):
        update(goal, **changes)
    assert dynamo_calls() == {"PutItem": 1, "UpdateItem": 1}  # no second read to explain
    assert stored(goal).version == 1


@pytest.mark.parametrize(("created", "changes", "field"), STORED_RULES)
def test_a_stale_version_is_reported_before_any_rule(
    make, created: dict, changes: dict, field: str
) -> None:
    goal = make(**created)
    update(goal, title="Changed elsewhere")
    with raises(PreconditionFailed):
        update(goal, version=1, **changes)


@pytest.mark.parametrize(
    ("created", "changes"),
    [
        ({"kind": "habit", "target": Decimal(3)}, {"target": None}),
        ({"kind": "amount"}, {"target": Decimal("2.5")}),
        ({"start_date": START}, {"due_date": START}),
        ({"start_date": START, "due_date": DUE}, {"start_date": DUE}),
        ({"start_date": START, "due_date": DUE}, {"due_date": None}),
        ({"start_date": START, "due_date": DUE}, {"start_date": DUE, "due_date": None}),
    ],
)
def test_update_accepts(make, created: dict, changes: dict) -> None:
    goal = make(**created)
    item = stored(update(goal, **changes))
    for name, value in changes.items():
        assert getattr(item, name) == (value.isoformat() if isinstance(value, date) else value)


def test_status_of_an_archived_goal_cannot_change(make, user_id: str) -> None:
    goal = make()
    services.goal_archive(user_id=user_id, goal_id=goal.goal_id)
    with raises(Conflict):
        update(goal, version=None, status="completed")
    assert stored(goal).status == "archived"
    assert update(goal, version=None, title="Still editable").title == "Still editable"


def test_completed_goal_can_be_made_active_again(make) -> None:
    goal = make()
    update(goal, status="completed")
    assert update(goal, version=2, status="active").status == "active"


# --- archive and unarchive ---------------------------------------------------------


def archive(
    goal: Goal, *, version: int | None = None, archived: bool = True, user_id: str | None = None
) -> Goal:
    service = services.goal_archive if archived else services.goal_unarchive
    return service(user_id=user_id or goal.user_id, goal_id=goal.goal_id, expected_version=version)


def test_archive_and_unarchive(make) -> None:
    goal = make()
    archived = archive(goal, version=1)
    assert (archived.status, archived.version) == ("archived", 2)
    assert archived.archived_at is not None
    active = archive(goal, version=2, archived=False)
    assert (active.status, active.archived_at, active.version) == ("active", None, 3)
    assert stored(goal).archived_at is None


@pytest.mark.parametrize("archived", [True, False])
def test_asking_for_the_state_a_goal_is_in_changes_nothing(
    make, dynamo_calls: DynamoCalls, archived: bool
) -> None:
    goal = make()
    if archived:
        goal = archive(goal)
    again = archive(goal, archived=archived)
    assert (again.status, again.version, again.archived_at) == (
        goal.status,
        goal.version,
        goal.archived_at,
    )
    assert dynamo_calls()["UpdateItem"] == (2 if archived else 1)


@pytest.mark.parametrize("archived", [True, False])
def test_archive_with_a_stale_version_fails(make, archived: bool) -> None:
    goal = make()
    if not archived:
        archive(goal)
    with raises(PreconditionFailed):
        archive(goal, version=7, archived=archived)


@pytest.mark.parametrize("archived", [True, False])
def test_archive_of_another_users_goal_is_not_found(make, archived: bool) -> None:
    goal = make()
    with raises(NotFound):
        archive(goal, archived=archived, user_id=str(uuid.uuid4()))
    assert stored(goal).status == "active"
