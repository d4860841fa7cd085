"""Reads of activities and progress. Costs do not grow with history:

- a page of activities is one Query on a local secondary index;
- a goal's progress is two round trips (the goal, then its progress item
  and its current period's bucket in one BatchGetItem);
- the progress of up to 100 active goals is three (one Query for the goals,
  then their progress items and buckets, 100 keys per BatchGetItem).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pynamodb.expressions.condition import Condition

from activities import periods
from activities.models import (
    TIME_FORMAT,
    Activity,
    GoalProgress,
    PeriodBucket,
    activity_sk,
    bucket_sk,
    progress_sk,
)
from goals.models import Goal
from goals.selectors import canonical_goal_id, goal_get
from lifestyle.dynamo import TableItem, query_page, user_pk
from lifestyle.errors import NotFound
from lifestyle.ids import normalize_id
from lifestyle.timeutil import utcnow

FOUR_PLACES = Decimal("0.0001")


def activity_get(*, user_id: str, activity_id: str) -> Activity:
    """The caller's activity; anybody else's is simply not found."""
    canonical = normalize_id(activity_id)
    if canonical is None:
        raise NotFound("No such activity.")
    try:
        return Activity.get(user_pk(user_id), activity_sk(canonical), consistent_read=True)
    except Activity.DoesNotExist:
        raise NotFound("No such activity.") from None


# --- Listing -------------------------------------------------------------------


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def _time_range(
    attribute: Any, prefix: str, start: datetime | None, end: datetime | None
) -> Condition | None:
    """``start`` inclusive, ``end`` exclusive, on keys ``{prefix}{stamp}#{id}``:
    ``{prefix}{end}`` sorts before every key at that very moment. DynamoDB
    refuses an empty string in a key condition, so with no prefix (the
    cross-goal index) an open start is ``<`` or no condition at all."""
    low = f"{prefix}{_stamp(start)}" if start else prefix
    high = f"{prefix}{_stamp(end)}" if end else f"{prefix}~"  # "~" sorts after digits
    if not low:
        return attribute < high if end else None
    if start is None and end is None:
        return attribute.startswith(prefix)
    return attribute.between(low, high)


def activity_list(
    *,
    user_id: str,
    goal_id: str | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    start_key: dict[str, Any] | None,
) -> tuple[list[Activity], dict[str, Any] | None]:
    """A page of the caller's activities, newest first: one goal's (one
    Query on ``by_goal_time``) or all of them (one Query on ``by_time``).
    An unknown goal is a 404; that costs a GetItem only when the page is
    empty."""
    pk = user_pk(user_id)
    if goal_id is None:
        condition = _time_range(Activity.time_key, "", start, end)
        index: Any = Activity.by_time
    else:
        goal_id = canonical_goal_id(goal_id)
        condition = _time_range(Activity.goal_time, f"{goal_id}#", start, end)
        index = Activity.by_goal_time
    items, last_key = query_page(
        Activity, pk, condition, limit=limit, start_key=start_key, index=index
    )
    if goal_id is not None and not items and start_key is None:
        goal_get(user_id=user_id, goal_id=goal_id)  # 404 if there is no such goal
    return items, last_key


# --- Progress ------------------------------------------------------------------


@dataclass(frozen=True)
class CurrentPeriod:
    key: str
    start: date
    end: date
    value: Decimal
    target: Decimal
    met: bool
    activity_count: int


@dataclass(frozen=True)
class Progress:
    goal: Goal
    total: Decimal
    target: Decimal | None
    percent: Decimal | None
    remaining: Decimal | None
    activity_count: int
    last_activity_at: datetime | None
    current_period: CurrentPeriod | None
    current_streak: int | None
    longest_streak: int | None
    pace_per_day: Decimal
    pace_needed_per_day: Decimal | None
    forecast_total: Decimal | None
    on_track: bool | None


def _places(value: Decimal) -> Decimal:
    return value.quantize(FOUR_PLACES, rounding=ROUND_HALF_UP).normalize() + 0


def today_for(goal: Goal, now: datetime | None = None) -> date:
    return goal.local_date(now or utcnow())


def overall_target(goal: Goal) -> Decimal | None:
    """What the whole goal aims at: its target for a one-off goal; the
    period target times the periods from start to due date for a recurring
    goal with a due date; nothing for an open-ended recurring goal."""
    if goal.period not in periods.RECURRING:
        return goal.target
    if goal.due_date is None:
        return None
    start, due = date.fromisoformat(goal.start_date), date.fromisoformat(goal.due_date)
    return goal.period_target * goal.periods_between(start, due)


def compute_progress(
    goal: Goal, stored: GoalProgress | None, bucket: PeriodBucket | None, today: date
) -> Progress:
    """Progress from the stored aggregates; pure, so tests can pin ``today``."""
    total = stored.total if stored else Decimal(0)
    count = stored.activity_count if stored else 0
    target = overall_target(goal)
    start = date.fromisoformat(goal.start_date)
    due = date.fromisoformat(goal.due_date) if goal.due_date else None

    current, current_streak, longest_streak = None, None, None
    if goal.period in periods.RECURRING:
        first, last = goal.period_bounds(today)
        value = bucket.total if bucket else Decimal(0)
        per_period = goal.period_target
        current = CurrentPeriod(
            key=goal.period_key(today),
            start=first,
            end=last,
            value=value,
            target=per_period,
            met=value >= per_period and bool(bucket and bucket.activity_count),
            activity_count=int(bucket.activity_count) if bucket else 0,
        )
        runs = periods.decode_runs(json.loads(stored.met_runs) if stored else [])
        current_streak, longest_streak = periods.streaks(
            runs, current_index=goal.period_index(today), current_met=current.met
        )

    elapsed = ((min(today, due) if due else today) - start).days + 1
    pace = _places(total / elapsed) if elapsed > 0 else Decimal(0)
    remaining = max(target - total, Decimal(0)) if target is not None else None
    pace_needed = forecast = on_track = None
    if due is not None and target is not None and remaining is not None:
        days_left = (due - max(today, start)).days + 1
        pace_needed = _places(remaining / days_left) if days_left > 0 else None
        forecast = _places(total + pace * max((due - today).days, 0)) if elapsed > 0 else total
        on_track = forecast >= target
    elif current_streak is not None and current is not None:
        # Open-ended habit: on track while the streak is alive, or in its first period.
        on_track = current_streak > 0 or current.start <= start
    return Progress(
        goal=goal,
        total=total,
        target=target,
        percent=_places(total * 100 / target) if target else None,
        remaining=remaining,
        activity_count=int(count),
        last_activity_at=stored.last_activity_at if stored else None,
        current_period=current,
        current_streak=current_streak,
        longest_streak=longest_streak,
        pace_per_day=pace,
        pace_needed_per_day=pace_needed,
        forecast_total=forecast,
        on_track=on_track,
    )


def _aggregate_keys(goal: Goal, today: date) -> list[tuple[str, str]]:
    keys = [(goal.pk, progress_sk(goal.goal_id))]
    if goal.period in periods.RECURRING:
        keys.append((goal.pk, bucket_sk(goal.goal_id, goal.period_key(today))))
    return keys


def _progress_of(goals: list[Goal], now: datetime | None = None) -> list[Progress]:
    todays = {goal.goal_id: today_for(goal, now) for goal in goals}
    keys = [key for goal in goals for key in _aggregate_keys(goal, todays[goal.goal_id])]
    found: dict[str, TableItem] = (
        {item.sk: item for item in TableItem.batch_get(keys)} if keys else {}
    )
    result = []
    for goal in goals:
        today = todays[goal.goal_id]
        stored = found.get(progress_sk(goal.goal_id))
        bucket = found.get(bucket_sk(goal.goal_id, goal.period_key(today)))
        result.append(
            compute_progress(
                goal,
                stored if isinstance(stored, GoalProgress) else None,
                bucket if isinstance(bucket, PeriodBucket) else None,
                today,
            )
        )
    return result


def goal_progress(*, user_id: str, goal_id: str, now: datetime | None = None) -> Progress:
    return _progress_of([goal_get(user_id=user_id, goal_id=goal_id)], now)[0]


def progress_summary(
    *, user_id: str, limit: int, start_key: dict[str, Any] | None, now: datetime | None = None
) -> tuple[list[Progress], dict[str, Any] | None]:
    """Progress of the caller's active goals, a page at a time."""
    goals, last_key = query_page(
        Goal,
        user_pk(user_id),
        Goal.sk.startswith("GOAL#"),
        filter_condition=Goal.status == "active",
        limit=limit,
        start_key=start_key,
    )
    return _progress_of(goals, now), last_key
