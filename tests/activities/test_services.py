"""Activity services and selectors called directly, against moto's DynamoDB.

moto's server is real HTTP on loopback, so threads calling the services at
once race for real. Each test has its own user id (a uuid4), so its
partition starts empty. "Now" is pinned through ``goal_progress(now=...)``;
the services' own clock (the "at most a day in the future" rule) is pinned
with the ``clock`` fixture only where a test needs a date after today.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from activities import selectors, services
from activities.models import Activity, GoalProgress, PeriodBucket, bucket_sk, progress_sk
from activities.periods import period_index
from goals.models import Goal
from goals.services import goal_archive, goal_create, goal_update
from lifestyle.dynamo import TableItem, user_pk
from lifestyle.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from lifestyle.timeutil import utcnow
from tests.activities.test_periods import (
    FALL_BACK,
    KIRITIMATI,
    NEW_YORK,
    PAGO_PAGO,
    SPRING_FORWARD,
    utc,
)
from tests.conftest import DynamoCalls, raises

START = date(2026, 1, 1)
ONE_DAY = timedelta(days=1)
THREADS = 8


def purge(user_id: str) -> None:
    """Delete the user's whole partition. moto copies the whole table on
    every transaction, so a table that only grows over the session makes
    every later write slower: these tests clean up after themselves."""
    with TableItem.batch_write() as batch:
        for item in TableItem.query(user_pk(user_id), consistent_read=True):
            batch.delete(item)


@pytest.fixture
def user_id() -> Iterator[str]:
    user_id = str(uuid.uuid4())
    yield user_id
    purge(user_id)


def new_goal(user_id: str, **fields: Any) -> Goal:
    """A goal of ``user_id``: a daily habit in UTC from START unless told."""
    fields = {"title": "Run", "kind": "habit", "period": "daily", "start_date": START, **fields}
    goal, created = goal_create(user_id=user_id, **fields)
    assert created
    return goal


@pytest.fixture
def make_goal(user_id: str) -> Callable[..., Goal]:
    return lambda **fields: new_goal(user_id, **fields)


def at(zone: str, *moment: int) -> datetime:
    """A local wall-clock time in ``zone`` (year, month, day, hour, minute),
    given to the services in UTC as a client would send it."""
    return datetime(*moment, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def log(goal: Goal, occurred_at: datetime, value: Any = None, **fields: Any) -> Activity:
    activity, created = services.activity_log(
        user_id=goal.user_id,
        goal_id=goal.goal_id,
        occurred_at=occurred_at,
        value=value,
        **fields,
    )
    assert created
    return activity


def log_days(goal: Goal, *days: date, hour: int = 12) -> list[Activity]:
    """One activity at ``hour`` local time on each day."""
    return [log(goal, at(goal.timezone, day.year, day.month, day.day, hour)) for day in days]


def progress(goal: Goal, now: datetime) -> selectors.Progress:
    return selectors.goal_progress(user_id=goal.user_id, goal_id=goal.goal_id, now=now)


def stored_progress(goal: Goal) -> GoalProgress:
    return GoalProgress.get(goal.pk, progress_sk(goal.goal_id), consistent_read=True)


def bucket_totals(goal: Goal, *keys: str) -> dict[str, Decimal | None]:
    """The stored total of each period bucket (None: no bucket item)."""
    totals: dict[str, Decimal | None] = {}
    for key in keys:
        try:
            item = PeriodBucket.get(goal.pk, bucket_sk(goal.goal_id, key), consistent_read=True)
            totals[key] = item.total
        except PeriodBucket.DoesNotExist:
            totals[key] = None
    return totals


def update(activity: Activity, version: int | None = None, **changes: Any) -> Activity:
    return services.activity_update(
        user_id=activity.user_id,
        activity_id=activity.activity_id,
        changes=changes,
        expected_version=activity.version if version is None else version,
    )


def delete(activity: Activity, version: int | None = None) -> Activity:
    return services.activity_delete(
        user_id=activity.user_id,
        activity_id=activity.activity_id,
        expected_version=activity.version if version is None else version,
    )


def days(first: date, count: int) -> list[date]:
    return [first + timedelta(days=n) for n in range(count)]


def streak(goal: Goal, now: datetime) -> tuple[int | None, int | None]:
    figures = progress(goal, now)
    return figures.current_streak, figures.longest_streak


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    """Pin the services' "now" (for dates after the real today)."""

    def pin(now: datetime) -> None:
        monkeypatch.setattr(services, "utcnow", lambda: now)

    return pin


# --- values by kind ------------------------------------------------------------------------

# (kind, value sent, value stored)
GOOD_VALUES = [
    ("habit", None, Decimal(1)),
    ("habit", 1, Decimal(1)),
    ("count", 3, Decimal(3)),
    ("count", 1_000_000, Decimal(1_000_000)),
    ("amount", "0.1", Decimal("0.1")),
    ("amount", 0.1, Decimal("0.1")),
    ("amount", "12.5", Decimal("12.5")),
    ("amount", " 7 ", Decimal(7)),
    ("amount", 5, Decimal(5)),
    ("amount", "0.0001", Decimal("0.0001")),
    ("amount", "99999999999.9999", Decimal("99999999999.9999")),
    ("duration", 1, Decimal(1)),
    ("duration", 5400, Decimal(5400)),
]
# (kind, value sent)
BAD_VALUES = [
    ("habit", 2),
    ("habit", 0),
    ("habit", "1"),
    ("habit", 1.0),
    ("habit", True),
    ("count", None),
    ("count", 2.5),
    ("count", "3"),
    ("count", True),
    ("count", 0),
    ("count", -1),
    ("count", 1_000_001),
    ("count", [1]),
    ("amount", None),
    ("amount", 0),
    ("amount", "0"),
    ("amount", -1),
    ("amount", "-0.5"),
    ("amount", "abc"),
    ("amount", ""),
    ("amount", "NaN"),
    ("amount", "Infinity"),
    ("amount", True),
    ("amount", "0.00001"),
    ("amount", "100000000000"),
    ("amount", 1e20),
    ("amount", {"value": 1}),
    ("duration", None),
    ("duration", 1.5),
    ("duration", "60"),
    ("duration", 0),
    ("duration", -60),
    ("duration", False),
    ("duration", 31 * 24 * 3600 + 1),
]
TARGETS = {"habit": None, "count": Decimal(10), "amount": Decimal(10), "duration": Decimal(3600)}


@pytest.mark.parametrize(("kind", "raw", "expected"), GOOD_VALUES)
def test_good_values_by_kind(kind: str, raw: Any, expected: Decimal) -> None:
    value = services.parse_value(kind, raw)
    assert (value, str(value)) == (expected, str(expected))


@pytest.mark.parametrize(("kind", "raw"), BAD_VALUES)
def test_bad_values_by_kind(kind: str, raw: Any) -> None:
    with raises(ValidationFailed, "value"):
        services.parse_value(kind, raw)


def test_an_exact_decimal_is_stored_exactly(make_goal: Callable[..., Goal]) -> None:
    goal = make_goal(kind="amount", target=Decimal(1), period="none")
    for _ in range(3):
        log(goal, utc(2026, 5, 1), "0.1")
    assert stored_progress(goal).total == Decimal("0.3")  # 0.1 + 0.1 + 0.1 as floats is not


# --- log -----------------------------------------------------------------------------------


def test_log_stores_the_activity_with_the_totals(make_goal: Callable[..., Goal]) -> None:
    goal = make_goal(kind="count", target=Decimal(5), timezone=KIRITIMATI)
    activity = log(goal, utc(2026, 6, 15, 10, 30), 3, note="  5 km  ")
    stored = Activity.get(goal.pk, activity.sk, consistent_read=True)
    assert (stored.activity_id, stored.goal_id, stored.user_id) == (
        activity.activity_id,
        goal.goal_id,
        goal.user_id,
    )
    assert (stored.value, stored.note, stored.version) == (Decimal(3), "  5 km  ", 1)
    assert activity.version == 1
    assert stored.occurred_at == utc(2026, 6, 15, 10, 30)
    assert (stored.local_date, stored.period_key) == ("2026-06-16", "2026-06-16")
    totals = stored_progress(goal)
    assert (totals.total, totals.activity_count, totals.last_activity_at) == (
        Decimal(3),
        1,
        utc(2026, 6, 15, 10, 30),
    )
    assert bucket_totals(goal, "2026-06-16", "2026-06-15") == {
        "2026-06-16": Decimal(3),
        "2026-06-15": None,
    }


def test_a_one_off_goal_has_no_buckets(make_goal: Callable[..., Goal]) -> None:
    goal = make_goal(kind="duration", target=Decimal(3600), period="none")
    activity = log(goal, utc(2026, 6, 15), 600)
    assert activity.period_key == "all"
    assert bucket_totals(goal, "all", "2026-06-15") == {"all": None, "2026-06-15": None}
    assert stored_progress(goal).total == Decimal(600)


def test_a_naive_time_is_refused(make_goal: Callable[..., Goal]) -> None:
    goal = make_goal()
    with raises(ValidationFailed, "occurred_at"):
        log(goal, datetime(2026, 6, 1, 12))  # noqa: DTZ001 (the point of the test)


def test_at_most_a_day_in_the_future(make_goal: Callable[..., Goal]) -> None:
    goal = make_goal()
    with raises(ValidationFailed, "occurred_at"):
        log(goal, utcnow() + timedelta(days=1, minutes=5))
    assert log(goal, utcnow() + timedelta(hours=23)).version == 1
    assert stored_progress(goal).activity_count == 1


def test_not_before_the_start_date_in_the_goals_timezone(make_goal: Callable[..., Goal]) -> None:
    goal = make_goal(timezone=KIRITIMATI, start_date=date(2026, 6, 10))
    with raises(ValidationFailed, "occurred_at"):
        log(goal, utc(2026, 6, 9, 9, 30))  # 23:30 on 9 June in Kiritimati
    first = log(goal, utc(2026, 6, 9, 10, 30))  # 00:30 on 10 June there, 9 June in UTC
    assert first.local_date == "2026-06-10"


def test_backfilling_an_old_day_is_fine(make_goal: Callable[..., Goal]) -> None:
    goal = make_goal(start_date=date(2020, 1, 1))
    assert log(goal, utc(2020, 1, 1, 0, 0)).local_date == "2020-01-01"
    assert log(goal, utcnow()).version == 1
    assert stored_progress(goal).activity_count == 2


def test_an_archived_goal_takes_no_activities(make_goal: Callable[..., Goal]) -> None:
    goal = make_goal()
    goal_archive(user_id=goal.user_id, goal_id=goal.goal_id)
    with pytest.raises(Conflict):
        log(goal, utc(2026, 6, 1))
    assert bucket_totals(goal, "2026-06-01") == {"2026-06-01": None}
    with pytest.raises(GoalProgress.DoesNotExist):
        stored_progress(goal)


def test_a_goal_archived_after_the_check_still_refuses_at_commit(
    make_goal: Callable[..., Goal], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The transaction itself checks the goal, whatever was read before it."""
    goal = make_goal()
    goal_archive(user_id=goal.user_id, goal_id=goal.goal_id)
    monkeypatch.setattr(services, "_check_goal_open", lambda ledger: None)
    with pytest.raises(Conflict):
        log(goal, utc(2026, 6, 1))
    with pytest.raises(GoalProgress.DoesNotExist):
        stored_progress(goal)


def test_a_completed_goal_still_takes_activities(make_goal: Callable[..., Goal]) -> None:
    goal = make_goal(kind="count", target=Decimal(5))
    goal_update(user_id=goal.user_id, goal_id=goal.goal_id, changes={"status": "completed"},
                expected_version=None)  # fmt: skip
    activity = update(log(goal, utc(2026, 6, 1), 2), value=3)
    assert stored_progress(goal).total == Decimal(3)
    delete(activity)
    assert stored_progress(goal).activity_count == 0


@pytest.mark.parametrize("goal_id", [str(uuid.uuid4()), "01M8G6FQQKFRPAMMDXP43929VC", "abc"])
def test_an_unknown_goal_is_not_found(user_id: str, goal_id: str) -> None:
    with pytest.raises(NotFound):
        services.activity_log(user_id=user_id, goal_id=goal_id, occurred_at=utc(2026, 6, 1))


def test_another_users_goal_is_not_found(make_goal: Callable[..., Goal]) -> None:
    goal = make_goal()
    with pytest.raises(NotFound):
        services.activity_log(
            user_id=str(uuid.uuid4()), goal_id=goal.goal_id, occurred_at=utc(2026, 6, 1)
        )
    with pytest.raises(GoalProgress.DoesNotExist):
        stored_progress(goal)


# --- retries -------------------------------------------------------------------------------


def log_as_client(goal: Goal, client_id: str, **fields: Any) -> tuple[Activity, bool]:
    fields = {"occurred_at": utc(2026, 6, 1, 7), "value": 2, "note": "", **fields}
    return services.activity_log(
        user_id=goal.user_id, goal_id=goal.goal_id, activity_id=client_id, **fields
    )


def assert_counted_once(goal: Goal, value: Decimal) -> None:
    totals = stored_progress(goal)
    assert (totals.total, totals.activity_count) == (value, 1)
    listed, _ = selectors.activity_list(
        user_id=goal.user_id, goal_id=goal.goal_id, start=None, end=None, limit=10, start_key=None
    )
    assert len(listed) == 1


def test_a_retry_returns_the_same_activity_and_counts_once(
    make_goal: Callable[..., Goal],
) -> None:
    goal = make_goal(kind="count", target=Decimal(5))
    client_id = str(uuid.uuid4())
    first, created = log_as_client(goal, client_id)
    assert (created, first.activity_id) == (True, client_id)
    for spelling in (client_id, client_id.upper()):
        again, created = log_as_client(goal, spelling)
        assert created is False
        assert again.serialize() == Activity.get(goal.pk, first.sk).serialize()
    # The same moment written with another offset is the same request.
    zoned = datetime(2026, 6, 1, 3, tzinfo=ZoneInfo(NEW_YORK))
    same, created = log_as_client(goal, client_id, occurred_at=zoned)
    assert (created, same.activity_id) == (False, client_id)
    assert_counted_once(goal, Decimal(2))


@pytest.mark.parametrize(
    "changes", [{"value": 3}, {"note": "other"}, {"occurred_at": utc(2026, 6, 1, 8)}]
)
def test_the_same_id_with_another_body_conflicts(
    make_goal: Callable[..., Goal], changes: dict[str, Any]
) -> None:
    goal = make_goal(kind="count", target=Decimal(5))
    client_id = str(uuid.uuid4())
    log_as_client(goal, client_id)
    with pytest.raises(Conflict):
        log_as_client(goal, client_id, **changes)
    assert_counted_once(goal, Decimal(2))


def test_the_same_id_on_another_goal_conflicts(make_goal: Callable[..., Goal]) -> None:
    goal = make_goal(kind="count", target=Decimal(5))
    other = make_goal(kind="count", target=Decimal(5))
    client_id = str(uuid.uuid4())
    log_as_client(goal, client_id)
    with pytest.raises(Conflict):
        log_as_client(other, client_id)
    with pytest.raises(GoalProgress.DoesNotExist):
        stored_progress(other)


def test_a_client_id_must_be_a_uuid(make_goal: Callable[..., Goal]) -> None:
    with raises(ValidationFailed, "id"):
        log_as_client(make_goal(kind="count", target=Decimal(5)), "not-a-uuid")


@pytest.fixture
def isolated_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto answers requests on many threads at once, and its
    TransactWriteItems is not isolated: it snapshots the whole table, writes
    item by item and restores the snapshot on failure, which can resurrect or
    drop another request's writes. DynamoDB runs each request atomically;
    one request at a time makes moto do so too. The service calls still
    race for real: between their reads and their transaction."""
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.Lock()
    call_action = DynamoHandler.call_action

    def one_at_a_time(self: DynamoHandler) -> Any:
        with lock:
            return call_action(self)

    monkeypatch.setattr(DynamoHandler, "call_action", one_at_a_time)


def in_threads(call: Callable[[int], Any], count: int = THREADS) -> list[Any]:
    """``call(n)`` for n in 0..count-1, all at once on ``count`` threads."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(call, range(count)))


@pytest.mark.usefixtures("isolated_requests")
def test_concurrent_retries_of_one_activity_count_once(make_goal: Callable[..., Goal]) -> None:
    goal = make_goal(kind="count", target=Decimal(5))
    client_id = str(uuid.uuid4())
    results = in_threads(lambda _: log_as_client(goal, client_id))
    assert sorted(created for _, created in results) == [False] * (THREADS - 1) + [True]
    assert {activity.activity_id for activity, _ in results} == {client_id}
    assert_counted_once(goal, Decimal(2))
    assert progress(goal, utc(2026, 6, 1, 12)).activity_count == 1
    assert bucket_totals(goal, "2026-06-01") == {"2026-06-01": Decimal(2)}


@pytest.mark.usefixtures("isolated_requests")
def test_concurrent_different_activities_all_count(make_goal: Callable[..., Goal]) -> None:
    goal = make_goal(kind="count", target=Decimal(10))
    # Values 1..8, the odd ones on 1 June and the even ones on 2 June.
    logged = in_threads(lambda n: log(goal, utc(2026, 6, 1 + n % 2, 9, n), n + 1))
    assert len({activity.activity_id for activity in logged}) == THREADS
    totals = stored_progress(goal)
    assert (totals.total, totals.activity_count) == (Decimal(36), THREADS)
    assert bucket_totals(goal, "2026-06-01", "2026-06-02") == {
        "2026-06-01": Decimal(16),
        "2026-06-02": Decimal(20),
    }
    figures = progress(goal, utc(2026, 6, 2, 20))
    assert (figures.current_streak, figures.longest_streak) == (2, 2)


# --- change and delete ------------------------------------------------------------------------


@pytest.fixture
def count_goal(make_goal: Callable[..., Goal]) -> Goal:
    """A daily count goal in New York, 5 a day."""
    return make_goal(kind="count", target=Decimal(5), timezone=NEW_YORK)


def test_changing_the_value_changes_the_totals(count_goal: Goal) -> None:
    activity = log(count_goal, at(NEW_YORK, 2026, 6, 1, 9), 3)
    changed = update(activity, value=7)
    assert (changed.value, changed.version) == (Decimal(7), 2)
    assert Activity.get(count_goal.pk, activity.sk).version == 2
    totals = stored_progress(count_goal)
    assert (totals.total, totals.activity_count) == (Decimal(7), 1)
    assert bucket_totals(count_goal, "2026-06-01") == {"2026-06-01": Decimal(7)}
    assert update(changed, note="better").version == 3


def test_moving_an_activity_moves_its_value_between_buckets(count_goal: Goal) -> None:
    stay = log(count_goal, at(NEW_YORK, 2026, 6, 1, 9), 2)
    move = log(count_goal, at(NEW_YORK, 2026, 6, 1, 10), 3)
    moved = update(move, occurred_at=at(NEW_YORK, 2026, 6, 2, 23, 30))
    assert (moved.local_date, moved.period_key) == ("2026-06-02", "2026-06-02")
    assert bucket_totals(count_goal, "2026-06-01", "2026-06-02") == {
        "2026-06-01": Decimal(2),
        "2026-06-02": Decimal(3),
    }
    totals = stored_progress(count_goal)
    assert (totals.total, totals.activity_count) == (Decimal(5), 2)
    assert totals.last_activity_at == at(NEW_YORK, 2026, 6, 2, 23, 30)
    # Back to a day that is met with it, and the other day's bucket goes.
    update(moved, occurred_at=at(NEW_YORK, 2026, 6, 1, 11), value=3)
    assert bucket_totals(count_goal, "2026-06-01", "2026-06-02") == {
        "2026-06-01": Decimal(5),
        "2026-06-02": None,
    }
    assert stored_progress(count_goal).last_activity_at == at(NEW_YORK, 2026, 6, 1, 11)
    assert streak(count_goal, at(NEW_YORK, 2026, 6, 2, 12)) == (1, 1)
    assert Activity.get(count_goal.pk, stay.sk).version == 1


def test_change_rules(count_goal: Goal) -> None:
    activity = log(count_goal, at(NEW_YORK, 2026, 6, 1, 9), 3)
    with pytest.raises(PreconditionFailed):
        update(activity, version=7, value=4)
    with raises(ValidationFailed, "value"):
        update(activity, value=2.5)
    with raises(ValidationFailed, "occurred_at"):
        update(activity, occurred_at=at(NEW_YORK, 2025, 12, 31, 23))
    with raises(ValidationFailed, "occurred_at"):
        update(activity, occurred_at=utcnow() + timedelta(days=2))
    with raises(ValidationFailed, "occurred_at"):
        update(activity, occurred_at=datetime(2026, 6, 1, 10))  # noqa: DTZ001 (naive on purpose)
    with raises(ValidationFailed, "goal_id", "version"):
        services.activity_update(
            user_id=activity.user_id,
            activity_id=activity.activity_id,
            changes={"goal_id": "x", "version": 1},
            expected_version=None,
        )
    with raises(ValidationFailed):
        update(activity)
    with pytest.raises(NotFound):
        services.activity_update(
            user_id=str(uuid.uuid4()),
            activity_id=activity.activity_id,
            changes={"value": 1},
            expected_version=None,
        )
    assert Activity.get(count_goal.pk, activity.sk).serialize() == activity.serialize()
    assert stored_progress(count_goal).total == Decimal(3)


def test_an_archived_goals_activities_are_frozen(count_goal: Goal) -> None:
    activity = log(count_goal, at(NEW_YORK, 2026, 6, 1, 9), 3)
    goal_archive(user_id=count_goal.user_id, goal_id=count_goal.goal_id)
    with pytest.raises(Conflict):
        update(activity, value=4)
    with pytest.raises(Conflict):
        delete(activity)
    assert stored_progress(count_goal).total == Decimal(3)


def test_delete_takes_the_activity_out_of_the_totals(count_goal: Goal) -> None:
    first = log(count_goal, at(NEW_YORK, 2026, 6, 1, 9), 5)
    second = log(count_goal, at(NEW_YORK, 2026, 6, 2, 9), 1)
    latest = log(count_goal, at(NEW_YORK, 2026, 6, 2, 10), 4)
    with pytest.raises(PreconditionFailed):
        delete(latest, version=2)
    assert delete(latest).activity_id == latest.activity_id
    with pytest.raises(NotFound):
        selectors.activity_get(user_id=count_goal.user_id, activity_id=latest.activity_id)
    with pytest.raises(NotFound):
        delete(latest)
    totals = stored_progress(count_goal)
    assert (totals.total, totals.activity_count) == (Decimal(6), 2)
    assert totals.last_activity_at == second.occurred_at  # the latest left: the one before
    assert bucket_totals(count_goal, "2026-06-02") == {"2026-06-02": Decimal(1)}
    delete(second)
    assert bucket_totals(count_goal, "2026-06-02") == {"2026-06-02": None}
    assert stored_progress(count_goal).last_activity_at == first.occurred_at
    delete(first)
    totals = stored_progress(count_goal)
    assert (totals.total, totals.activity_count, totals.last_activity_at) == (Decimal(0), 0, None)
    assert streak(count_goal, at(NEW_YORK, 2026, 6, 2, 12)) == (0, 0)


def test_another_users_activity_is_not_found(count_goal: Goal) -> None:
    activity = log(count_goal, at(NEW_YORK, 2026, 6, 1, 9), 3)
    stranger = str(uuid.uuid4())
    with pytest.raises(NotFound):
        selectors.activity_get(user_id=stranger, activity_id=activity.activity_id)
    with pytest.raises(NotFound):
        services.activity_delete(
            user_id=stranger, activity_id=activity.activity_id, expected_version=None
        )
    assert stored_progress(count_goal).activity_count == 1


# --- listing -------------------------------------------------------------------------------


def test_list_is_newest_first_within_the_range(make_goal: Callable[..., Goal]) -> None:
    goal, other = make_goal(), make_goal()
    for hour in (9, 7, 8, 10):
        log(goal, utc(2026, 6, 1, hour))
    log(other, utc(2026, 6, 1, 8, 30))

    def listed(goal_id: str | None, start: datetime | None, end: datetime | None) -> list[int]:
        items, _ = selectors.activity_list(
            user_id=goal.user_id, goal_id=goal_id, start=start, end=end, limit=10, start_key=None
        )
        return [item.occurred_at.hour * 100 + item.occurred_at.minute for item in items]

    assert listed(goal.goal_id, None, None) == [1000, 900, 800, 700]
    assert listed(goal.goal_id, utc(2026, 6, 1, 8), utc(2026, 6, 1, 10)) == [900, 800]
    assert listed(None, None, None) == [1000, 900, 830, 800, 700]
    assert listed(None, utc(2026, 6, 1, 8, 30), None) == [1000, 900, 830]
    assert listed(None, None, utc(2026, 6, 1, 8, 30)) == [800, 700]


# --- progress: figures ------------------------------------------------------------------------


def goal_in_memory(**fields: Any) -> Goal:
    fields = {
        "goal_id": "G",
        "user_id": "U",
        "title": "t",
        "kind": "count",
        "period": "none",
        "start_date": "2026-01-01",
        "timezone": "UTC",
        **fields,
    }
    return Goal("USER#U", "GOAL#G", **fields)


def aggregates(total: str, count: int, runs: str = "[]") -> GoalProgress:
    return GoalProgress("USER#U", "PROGRESS#G", total=Decimal(total), activity_count=count,
                        met_runs=runs)  # fmt: skip


def test_progress_of_a_one_off_goal_with_a_due_date() -> None:
    goal = goal_in_memory(target=Decimal(100), due_date="2026-01-10")
    figures = selectors.compute_progress(goal, aggregates("20", 4), None, date(2026, 1, 4))
    assert (figures.total, figures.target, figures.percent, figures.remaining) == (
        Decimal(20),
        Decimal(100),
        Decimal(20),
        Decimal(80),
    )
    assert figures.activity_count == 4
    assert figures.pace_per_day == Decimal(5)  # 20 over 4 days
    assert figures.pace_needed_per_day == Decimal("11.4286")  # 80 over the 7 days left
    assert figures.forecast_total == Decimal(50)  # 20 + 6 more days at 5
    assert figures.on_track is False
    assert (figures.current_period, figures.current_streak, figures.longest_streak) == (
        None,
        None,
        None,
    )
    ahead = selectors.compute_progress(goal, aggregates("60", 4), None, date(2026, 1, 4))
    assert (ahead.forecast_total, ahead.on_track) == (Decimal(150), True)


def test_progress_past_the_due_date_and_over_the_target() -> None:
    goal = goal_in_memory(target=Decimal(10), due_date="2026-01-05")
    figures = selectors.compute_progress(goal, aggregates("12.5", 3), None, date(2026, 2, 1))
    assert (figures.percent, figures.remaining) == (Decimal(125), Decimal(0))
    assert figures.pace_per_day == Decimal("2.5")  # the 5 days to the due date
    assert (figures.pace_needed_per_day, figures.forecast_total, figures.on_track) == (
        None,
        Decimal("12.5"),
        True,
    )


def test_progress_with_no_activity_and_before_the_start() -> None:
    goal = goal_in_memory(target=Decimal(10), due_date="2026-01-05")
    figures = selectors.compute_progress(goal, None, None, date(2025, 12, 30))
    assert (figures.total, figures.activity_count, figures.last_activity_at) == (0, 0, None)
    assert (figures.pace_per_day, figures.pace_needed_per_day) == (0, 2)  # 10 over 5 days
    assert (figures.forecast_total, figures.on_track) == (0, False)


def test_progress_of_a_recurring_goal_with_a_due_date() -> None:
    goal = goal_in_memory(kind="amount", target=Decimal("2.5"), period="weekly",
                          due_date="2026-01-31")  # fmt: skip
    today = date(2026, 1, 21)  # a Wednesday in week 4
    bucket = PeriodBucket(total=Decimal(3), activity_count=2)
    week_1, week_4 = period_index("weekly", date(2026, 1, 1)), period_index("weekly", today)
    runs = f"[[{week_1}, {week_1}], [{week_4 - 1}, {week_4}]]"
    figures = selectors.compute_progress(goal, aggregates("8", 4, runs), bucket, today)
    # 1 Jan (a Thursday) to 31 Jan (a Saturday) touch 5 ISO weeks.
    assert (figures.target, figures.remaining) == (Decimal("12.5"), Decimal("4.5"))
    current = figures.current_period
    assert current is not None
    assert (current.key, current.start, current.end) == (
        "2026-W04",
        date(2026, 1, 19),
        date(2026, 1, 25),
    )
    assert (current.value, current.target, current.met, current.activity_count) == (
        Decimal(3),
        Decimal("2.5"),
        True,
        2,
    )
    assert (figures.current_streak, figures.longest_streak) == (2, 2)
    assert figures.pace_per_day == Decimal("0.381")  # 8 over 21 days
    assert figures.pace_needed_per_day == Decimal("0.4091")  # 4.5 over 11 days
    assert figures.forecast_total == Decimal("11.81")  # 8 + 10 * 0.381
    assert figures.on_track is False


def test_an_unmet_current_period_does_not_break_the_streak_yet() -> None:
    goal = goal_in_memory(kind="habit", period="daily")
    today = date(2026, 3, 10)
    index = period_index("daily", today)
    runs = f"[[{index - 5}, {index - 4}], [{index - 2}, {index - 1}]]"  # a gap 3 days ago
    figures = selectors.compute_progress(goal, aggregates("5", 5, runs), None, today)
    current = figures.current_period
    assert current is not None
    assert (current.key, current.value, current.target, current.met) == (
        "2026-03-10",
        Decimal(0),
        Decimal(1),
        False,
    )
    assert (figures.current_streak, figures.longest_streak) == (2, 2)
    assert (figures.target, figures.remaining, figures.percent) == (None, None, None)
    assert (figures.pace_needed_per_day, figures.forecast_total) == (None, None)
    assert figures.on_track is True  # open-ended: on track while the streak lives
    broken = selectors.compute_progress(goal, aggregates("5", 5, runs), None, today + ONE_DAY)
    assert (broken.current_streak, broken.longest_streak, broken.on_track) == (0, 2, False)


@pytest.mark.parametrize(
    ("period", "now", "key", "start", "end"),
    [
        ("daily", utc(2026, 5, 31, 23), "2026-05-31", date(2026, 5, 31), date(2026, 5, 31)),
        ("weekly", utc(2026, 5, 31, 23), "2026-W22", date(2026, 5, 25), date(2026, 5, 31)),
        ("monthly", utc(2026, 5, 31, 23), "2026-05", date(2026, 5, 1), date(2026, 5, 31)),
        ("monthly", utc(2026, 2, 10), "2026-02", date(2026, 2, 1), date(2026, 2, 28)),
    ],
)
def test_the_current_period_from_storage(
    make_goal: Callable[..., Goal],
    period: str,
    now: datetime,
    key: str,
    start: date,
    end: date,
) -> None:
    goal = make_goal(kind="count", target=Decimal(3), period=period)
    log(goal, now - timedelta(hours=1), 2)
    log(goal, now - timedelta(minutes=30), 1)
    before = start - ONE_DAY
    log(goal, utc(before.year, before.month, before.day, 12), 3)  # the period before
    figures = progress(goal, now)
    current = figures.current_period
    assert current is not None
    assert (current.key, current.start, current.end) == (key, start, end)
    assert (current.value, current.target, current.met, current.activity_count) == (
        Decimal(3),
        Decimal(3),
        True,
        2,
    )
    assert (figures.total, figures.activity_count) == (Decimal(6), 3)
    assert figures.last_activity_at == now - timedelta(minutes=30)
    assert (figures.current_streak, figures.longest_streak) == (2, 2)
    later = progress(goal, now + timedelta(days=70))
    assert later.current_period is not None
    assert (later.current_period.value, later.current_period.met) == (0, False)
    assert (later.current_streak, later.longest_streak) == (0, 2)


# --- timezones ----------------------------------------------------------------------------------


@pytest.mark.parametrize("change", [SPRING_FORWARD, FALL_BACK], ids=["spring", "fall"])
@pytest.mark.parametrize("hour", [0, 23])
def test_a_daily_streak_survives_daylight_saving(
    make_goal: Callable[..., Goal], change: date, hour: int
) -> None:
    goal = make_goal(timezone=NEW_YORK)
    week = days(change - timedelta(days=3), 7)
    logged = [log(goal, at(NEW_YORK, d.year, d.month, d.day, hour, 30)) for d in week]
    assert [activity.local_date for activity in logged] == [d.isoformat() for d in week]
    assert streak(goal, at(NEW_YORK, week[-1].year, week[-1].month, week[-1].day, 23, 59)) == (
        7,
        7,
    )


def test_23_30_local_counts_for_the_local_day(make_goal: Callable[..., Goal]) -> None:
    goal = make_goal(timezone=NEW_YORK)
    activity = log(goal, utc(2026, 7, 2, 3, 30))  # 23:30 on 1 July in New York (EDT)
    assert (activity.local_date, activity.period_key) == ("2026-07-01", "2026-07-01")
    assert bucket_totals(goal, "2026-07-01", "2026-07-02") == {
        "2026-07-01": Decimal(1),
        "2026-07-02": None,
    }
    # Next evening in New York it is 2 July: yesterday's activity still carries the streak.
    assert streak(goal, utc(2026, 7, 2, 23)) == (1, 1)


def test_the_same_instant_is_a_different_day_at_the_days_edges(
    make_goal: Callable[..., Goal],
) -> None:
    instant = utc(2026, 6, 15, 10, 30)
    ahead, behind = make_goal(timezone=KIRITIMATI), make_goal(timezone=PAGO_PAGO)
    assert log(ahead, instant).local_date == "2026-06-16"  # 00:30 at UTC+14
    assert log(behind, instant).local_date == "2026-06-14"  # 23:30 at UTC-11
    for goal, day in ((ahead, "2026-06-16"), (behind, "2026-06-14")):
        current = progress(goal, instant).current_period
        assert current is not None
        assert (current.key, current.value, current.met) == (day, Decimal(1), True)
        assert bucket_totals(goal, day, "2026-06-15") == {day: Decimal(1), "2026-06-15": None}


def test_a_leap_day(make_goal: Callable[..., Goal]) -> None:
    goal = make_goal(start_date=date(2024, 2, 1))
    log_days(goal, date(2024, 2, 28), date(2024, 2, 29), date(2024, 3, 1), hour=23)
    assert bucket_totals(goal, "2024-02-29") == {"2024-02-29": Decimal(1)}
    assert streak(goal, utc(2024, 3, 1, 23, 59)) == (3, 3)
    current = progress(goal, utc(2024, 2, 29, 12)).current_period
    assert current is not None
    assert (current.key, current.start, current.end) == (
        "2024-02-29",
        date(2024, 2, 29),
        date(2024, 2, 29),
    )


def test_iso_week_53(make_goal: Callable[..., Goal], clock: Callable[[datetime], None]) -> None:
    clock(utc(2027, 1, 4, 12))
    goal = make_goal(kind="count", target=Decimal(3), period="weekly", timezone=PAGO_PAGO,
                     start_date=date(2026, 12, 1))  # fmt: skip
    log(goal, at(PAGO_PAGO, 2026, 12, 21, 8), 3)  # W52
    log(goal, at(PAGO_PAGO, 2026, 12, 28, 0, 5), 2)  # Monday of W53
    last = log(goal, at(PAGO_PAGO, 2027, 1, 3, 23, 55), 1)  # Sunday of W53, 4 Jan in UTC
    assert last.period_key == "2026-W53"
    assert bucket_totals(goal, "2026-W53", "2027-W01") == {
        "2026-W53": Decimal(3),
        "2027-W01": None,
    }
    figures = progress(goal, at(PAGO_PAGO, 2027, 1, 3, 23, 59))
    assert figures.current_period is not None
    assert (figures.current_period.key, figures.current_period.start) == (
        "2026-W53",
        date(2026, 12, 28),
    )
    assert (figures.current_period.end, figures.current_period.met) == (date(2027, 1, 3), True)
    assert (figures.current_streak, figures.longest_streak) == (2, 2)
    # The week after W53 is 2027-W01, and W53 still carries the streak there.
    assert log(goal, at(PAGO_PAGO, 2027, 1, 4, 0, 0), 1).period_key == "2027-W01"
    assert streak(goal, at(PAGO_PAGO, 2027, 1, 4, 1)) == (2, 2)


def test_month_ends(make_goal: Callable[..., Goal]) -> None:
    zone = PAGO_PAGO  # UTC-11: the last evening of each month is the next month in UTC
    goal = make_goal(kind="amount", target=Decimal(10), period="monthly", timezone=zone)
    keys = [
        log(goal, at(zone, 2026, 1, 31, 23, 30), "10").period_key,
        log(goal, at(zone, 2026, 2, 28, 23, 59), "4.5").period_key,
        log(goal, at(zone, 2026, 3, 1, 0, 0), "5.5").period_key,
        log(goal, at(zone, 2026, 4, 30, 23, 0), "10").period_key,
    ]
    assert keys == ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert bucket_totals(goal, "2026-01", "2026-02", "2026-03", "2026-04") == {
        "2026-01": Decimal(10),
        "2026-02": Decimal("4.5"),
        "2026-03": Decimal("5.5"),
        "2026-04": Decimal(10),
    }
    figures = progress(goal, at(zone, 2026, 4, 30, 23, 30))
    assert figures.current_period is not None
    assert (figures.current_period.start, figures.current_period.end) == (
        date(2026, 4, 1),
        date(2026, 4, 30),
    )
    assert (figures.current_streak, figures.longest_streak) == (1, 1)  # February fell short


def test_streak_with_a_gap_a_backfill_and_a_deletion(make_goal: Callable[..., Goal]) -> None:
    goal = make_goal(timezone=PAGO_PAGO)
    first = date(2026, 6, 1)
    logged = log_days(goal, *days(first, 3), *days(first + timedelta(days=4), 2), hour=23)
    evening_of = at(PAGO_PAGO, 2026, 6, 6, 23, 59)
    assert streak(goal, evening_of) == (2, 3)
    log_days(goal, first + timedelta(days=3), hour=6)  # the missing 4 June, backfilled
    assert streak(goal, evening_of) == (6, 6)
    delete(logged[2])  # 3 June
    assert streak(goal, evening_of) == (3, 3)
    assert stored_progress(goal).activity_count == 5


# --- cost does not grow with history -------------------------------------------------------------


def test_a_goals_progress_costs_two_round_trips_whatever_its_history(
    make_goal: Callable[..., Goal], dynamo_calls: DynamoCalls
) -> None:
    goal = make_goal(kind="count", target=Decimal(100), due_date=date(2026, 12, 31))
    costs = []
    for first, count in ((0, 1), (1, 60)):
        for n in range(first, count):
            log(goal, utc(2026, 3, 1) + timedelta(hours=n), 1)
        dynamo_calls.reset()
        figures = progress(goal, utc(2026, 4, 1))
        costs.append(dynamo_calls())
        assert (figures.activity_count, figures.total) == (count, count)
    assert costs[0] == costs[1] == {"GetItem": 1, "BatchGetItem": 1}


def test_the_summary_costs_three_round_trips_for_100_goals(
    user_id: str, dynamo_calls: DynamoCalls
) -> None:
    # Archived first: the newest come first, so it is alone on the second page.
    goal_archive(user_id=user_id, goal_id=new_goal(user_id).goal_id)
    goals = [new_goal(user_id, title=f"Goal {n}") for n in range(100)]
    for goal in goals[:3]:
        log(goal, utc(2026, 6, 1, 9))
    dynamo_calls.reset()
    items, next_key = selectors.progress_summary(
        user_id=user_id, limit=100, start_key=None, now=utc(2026, 6, 1, 12)
    )
    assert sum(dynamo_calls().values()) <= 3
    assert dynamo_calls() == {"Query": 1, "BatchGetItem": 2}
    assert {item.goal.goal_id for item in items} == {goal.goal_id for goal in goals}
    met = {item.goal.goal_id for item in items if item.current_period and item.current_period.met}
    assert met == {goal.goal_id for goal in goals[:3]}
    assert next_key is not None  # the page was full: one more holding only the archived goal
    rest, _ = selectors.progress_summary(user_id=user_id, limit=100, start_key=next_key)
    assert rest == []


def write_costs(goal: Goal, calls: DynamoCalls, when: datetime) -> list[dict[str, int]]:
    """The DynamoDB calls of a log, a change and a delete of the newest activity."""
    calls.reset()
    activity = log(goal, when, 1)
    costs = [calls()]
    calls.reset()
    changed = update(activity, value=2, occurred_at=when + timedelta(minutes=1))
    costs.append(calls())
    calls.reset()
    delete(changed)
    costs.append(calls())
    return costs


def test_writes_cost_the_same_whatever_the_history(
    make_goal: Callable[..., Goal], dynamo_calls: DynamoCalls
) -> None:
    goal = make_goal(kind="count", target=Decimal(3))
    log(goal, utc(2026, 2, 1), 1)
    short = write_costs(goal, dynamo_calls, utc(2026, 5, 1))
    for n in range(30):
        log(goal, utc(2026, 2, 2) + timedelta(hours=n), 1)
    long = write_costs(goal, dynamo_calls, utc(2026, 5, 1))
    assert short == long
    # A log: one read (the goal is known here, so its bucket joins the
    # read) and the transaction; a change or a delete reads twice.
    assert [sum(cost.values()) for cost in long] == [2, 5, 5]


def test_a_known_goals_bucket_is_read_with_the_goal(
    make_goal: Callable[..., Goal], dynamo_calls: DynamoCalls
) -> None:
    goal = make_goal(kind="count", target=Decimal(2), period="weekly", timezone="Asia/Tokyo")
    dynamo_calls.reset()
    log(goal, at("Asia/Tokyo", 2026, 3, 2, 0, 30), 1)  # a Monday, just after midnight there
    assert dynamo_calls() == {"BatchGetItem": 2, "TransactWriteItems": 1}
    dynamo_calls.reset()
    log(goal, at("Asia/Tokyo", 2026, 3, 8, 23, 30), 1)  # the same week's Sunday
    assert dynamo_calls() == {"BatchGetItem": 1, "TransactWriteItems": 1}
    progress = selectors.goal_progress(
        user_id=goal.user_id, goal_id=goal.goal_id, now=at("Asia/Tokyo", 2026, 3, 8, 23, 45)
    )
    assert progress.current_period is not None
    assert (progress.current_period.value, progress.current_period.met) == (2, True)


def test_a_wrong_calendar_guess_costs_a_read_and_nothing_else(
    make_goal: Callable[..., Goal], dynamo_calls: DynamoCalls
) -> None:
    """Were a remembered calendar ever wrong, the guessed bucket is ignored
    and the right one read, as for a goal never seen."""
    goal = make_goal(kind="count", target=Decimal(2), period="weekly", timezone="UTC")
    wrong = Goal(goal.pk, goal.sk, goal_id=goal.goal_id, period="weekly", timezone="Asia/Tokyo")
    wrong.week_start, wrong.day_start_hour = "sunday", 6
    services.calendars.remember(goal.user_id, wrong)
    dynamo_calls.reset()
    log(goal, utc(2026, 3, 1, 3), 1)  # Sunday 03:00 UTC: still last week's Sunday in UTC
    assert dynamo_calls() == {"BatchGetItem": 2, "TransactWriteItems": 1}
    assert services.calendars.get(goal.user_id, goal.goal_id) == services.Calendar.of(goal)
    log(goal, utc(2026, 2, 23, 9), 1)  # the Monday of the same UTC week
    progress = selectors.goal_progress(
        user_id=goal.user_id, goal_id=goal.goal_id, now=utc(2026, 3, 1, 4)
    )
    assert progress.current_period is not None
    assert (progress.current_period.key, progress.current_period.value) == ("2026-W09", 2)
