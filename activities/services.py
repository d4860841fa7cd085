"""Writes to activities: log, change, delete.

Each write moves the activity and the goal's aggregates together:

1. read what the write depends on (the goal, its progress item, the period
   buckets involved; the activity itself for a change or a delete);
2. compute the new aggregates in memory;
3. commit one transaction: the activity, a check that the goal still
   accepts activities, the progress item guarded by its version, and the
   buckets. Every write to a goal bumps its progress version, so two
   concurrent writes to one goal cannot both commit: the loser re-reads and
   tries again. Totals therefore always equal the sum of the activities.

A retried log with the same client id is answered from the stored activity
(one read), so a flaky network can never count an activity twice.

A log reads once before its transaction when this process has seen the
goal before: a goal's calendar (period, timezone, week start, day-start
hour) never changes, so the bucket the activity falls in is known before
the goal is read and joins the same BatchGetItem (:class:`Calendars`).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from activities import periods
from activities.models import (
    Activity,
    GoalProgress,
    PeriodBucket,
    activity_sk,
    bucket_sk,
    progress_sk,
)
from activities.selectors import activity_get
from goals.models import Goal
from goals.selectors import canonical_goal_id
from lifestyle.dynamo import TableItem, Transaction, TransactionCancelled, goal_sk, user_pk
from lifestyle.errors import (
    Conflict,
    NotFound,
    PreconditionFailed,
    ServiceUnavailable,
    ValidationFailed,
)
from lifestyle.ids import new_ulid, normalize_id
from lifestyle.memo import Recent
from lifestyle.timeutil import utcnow
from sync.models import Tombstone

T = TypeVar("T")

MAX_FUTURE = timedelta(days=1)
MAX_COUNT = 1_000_000
MAX_DURATION_SECONDS = 31 * 24 * 3600
MAX_ATTEMPTS = 8


# --- Values ------------------------------------------------------------------


def parse_value(kind: str, raw: Any) -> Decimal:
    """The activity's value for a goal of ``kind``, or a 400 naming ``value``."""

    def invalid(message: str) -> ValidationFailed:
        return ValidationFailed(fields={"value": [message]})

    if kind == "habit":
        if raw is None or (type(raw) is int and raw == 1):
            return Decimal(1)
        raise invalid("A habit is done once per activity: send 1 or leave value out.")
    if raw is None:
        raise invalid("This field is required.")
    if kind in ("count", "duration"):
        if type(raw) is not int:  # not bool, not float, not text
            unit = " of seconds" if kind == "duration" else ""
            raise invalid(f"Must be a whole number{unit}.")
        limit = MAX_COUNT if kind == "count" else MAX_DURATION_SECONDS
        if not 0 < raw <= limit:
            raise invalid(f"Must be between 1 and {limit}.")
        return Decimal(raw)
    # amount: an exact decimal, as a JSON number or text
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise invalid("Must be a number.")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise invalid("Must be a number.") from None
    if not value.is_finite() or value <= 0:
        raise invalid("Must be greater than zero.")
    if value != value.quantize(Decimal("0.0001"), rounding="ROUND_DOWN") or value >= 10**11:
        raise invalid("At most 11 digits before the point and 4 after it.")
    return value.normalize() if value == value.to_integral_value() else value


def _fingerprint(fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- The goal's aggregates -----------------------------------------------------


@dataclass
class Ledger:
    """A goal with its aggregates as read, changed in memory, then written."""

    goal: Goal
    progress: GoalProgress
    buckets: dict[str, PeriodBucket] = field(default_factory=dict)

    @property
    def recurring(self) -> bool:
        return self.goal.period in periods.RECURRING

    def place(self, activity: Activity) -> None:
        """Set the activity's local date and period from the goal's rules."""
        day = self.goal.local_date(activity.occurred_at)
        activity.local_date = day.isoformat()
        activity.period_key = self.goal.period_key(day)
        activity.place_in_time()

    def count(self, activity: Activity, sign: int) -> None:
        """Add (sign=1) or take away (sign=-1) one activity."""
        progress = self.progress
        progress.total = progress.total + sign * activity.value
        progress.activity_count = progress.activity_count + sign
        if sign > 0 and (
            progress.last_activity_at is None or activity.occurred_at > progress.last_activity_at
        ):
            progress.last_activity_at = activity.occurred_at
        if not self.recurring:
            return
        bucket = self.buckets[activity.period_key]
        bucket.total = bucket.total + sign * activity.value
        bucket.activity_count = bucket.activity_count + sign
        index = self.goal.period_index(date.fromisoformat(activity.local_date))
        runs = periods.decode_runs(json.loads(progress.met_runs))
        if bucket.activity_count > 0 and bucket.total >= self.goal.period_target:
            runs = periods.runs_add(runs, index)
        else:
            runs = periods.runs_remove(runs, index)
        progress.met_runs = json.dumps(periods.encode_runs(runs))

    def write(self, transaction: Transaction) -> None:
        goal = self.goal
        transaction.check(
            "goal",
            Goal,
            (goal.pk, goal.sk),
            # The same rule as _check_goal_open: only an archived goal is closed
            # (a completed one still takes activities).
            Goal.pk.exists() & (Goal.status != "archived"),
        )
        self.write_aggregates(transaction)

    def write_aggregates(self, transaction: Transaction) -> None:
        """The progress item, guarded by its version, and the buckets: without
        the goal check, for repairs (activities.consistency), which must
        work on archived goals too."""
        transaction.put("progress", self.progress)
        self.write_buckets(transaction)

    def write_buckets(self, transaction: Transaction) -> None:
        """Each bucket under its version; an emptied one is deleted."""
        for key, bucket in self.buckets.items():
            if bucket.activity_count > 0:
                transaction.put(f"bucket:{key}", bucket)
            elif bucket.version is not None:
                transaction.delete(f"bucket:{key}", bucket, PeriodBucket.version == bucket.version)


@dataclass(frozen=True)
class Calendar:
    """What decides which period bucket a moment falls in, for one goal."""

    period: str
    timezone: str
    week_start: str
    day_start_hour: int

    @classmethod
    def of(cls, goal: Goal) -> Calendar:
        return cls(goal.period, goal.timezone, goal.week_start, int(goal.day_start_hour))

    def period_key(self, moment: datetime) -> str | None:
        """The bucket ``moment`` counts in; None for a one-off goal."""
        if self.period not in periods.RECURRING:
            return None
        day = periods.local_date(moment, self.timezone, day_start_hour=self.day_start_hour)
        return periods.period_key(self.period, day, week_start=periods.WEEK_STARTS[self.week_start])


class Calendars:
    """The calendars of goals this process has read, the most recent
    ``limit``. The API never changes a goal's calendar after creation;
    still, a guess is only used when the goal as read agrees with it."""

    def __init__(self, limit: int = 2048) -> None:
        self._known: Recent[tuple[str, str], Calendar] = Recent(limit)

    def get(self, user_id: str, goal_id: str) -> Calendar | None:
        return self._known.get((user_id, goal_id))

    def remember(self, user_id: str, goal: Goal) -> Calendar:
        calendar = Calendar.of(goal)
        self._known.put((user_id, goal.goal_id), calendar)
        return calendar


calendars = Calendars()


def _read(keys: list[tuple[str, str]]) -> dict[str, TableItem]:
    """One BatchGetItem, strongly consistent; items by sort key."""
    found = TableItem.batch_get(keys, consistent_read=True)
    return {item.sk: item for item in found}


def _ledger(user_id: str, goal_id: str, found: dict[str, TableItem]) -> Ledger:
    goal = found.get(goal_sk(goal_id))
    if not isinstance(goal, Goal):
        raise NotFound("No such goal.")
    progress = found.get(progress_sk(goal_id))
    if not isinstance(progress, GoalProgress):
        progress = empty_progress(goal)
    return Ledger(goal=goal, progress=progress)


def empty_progress(goal: Goal) -> GoalProgress:
    """The goal's progress item before anything was counted (not stored yet)."""
    return GoalProgress(goal.pk, progress_sk(goal.goal_id), goal_id=goal.goal_id)


def empty_bucket(goal: Goal, period_key: str) -> PeriodBucket:
    """A period's bucket before anything was counted (not stored yet)."""
    return PeriodBucket(
        goal.pk, bucket_sk(goal.goal_id, period_key), goal_id=goal.goal_id, period_key=period_key
    )


def _load_buckets(ledger: Ledger, period_keys: set[str]) -> None:
    """Fetch the buckets the write touches (none for a one-off goal)."""
    if not ledger.recurring:
        return
    goal = ledger.goal
    missing = [key for key in period_keys if key not in ledger.buckets]
    found = _read([(goal.pk, bucket_sk(goal.goal_id, key)) for key in missing]) if missing else {}
    for key in missing:
        bucket = found.get(bucket_sk(goal.goal_id, key))
        if not isinstance(bucket, PeriodBucket):
            bucket = empty_bucket(goal, key)
        ledger.buckets[key] = bucket


def _refresh_last_activity(ledger: Ledger, leaving: Activity) -> None:
    """``leaving`` no longer counts at its old time: if it was the latest,
    find the latest of the others (one Query, two items)."""
    progress = ledger.progress
    if progress.last_activity_at is None or leaving.occurred_at < progress.last_activity_at:
        return
    goal = ledger.goal
    newest = Activity.by_goal_time.query(
        goal.pk,
        Activity.goal_time.startswith(f"{goal.goal_id}#"),
        consistent_read=True,  # a local index reads what just committed
        scan_index_forward=False,
        limit=2,
        page_size=2,
    )
    others = [a for a in newest if a.activity_id != leaving.activity_id]
    progress.last_activity_at = others[0].occurred_at if others else None


class _Retry(Exception):
    """Another write to the same goal won the race: read again."""


def _with_retries(attempt: Callable[[], T]) -> T:
    for number in range(MAX_ATTEMPTS):
        try:
            return attempt()
        except _Retry:
            time.sleep(random.uniform(0, 0.005 * 2**number))  # noqa: S311 (jitter, not crypto)
    raise ServiceUnavailable("The goal is busy with other changes; retry shortly.")


def _check_time(occurred_at: datetime, now: datetime) -> None:
    if occurred_at.utcoffset() is None:
        raise ValidationFailed(fields={"occurred_at": ["Needs a UTC offset."]})
    if occurred_at > now + MAX_FUTURE:
        raise ValidationFailed(fields={"occurred_at": ["Can be at most a day in the future."]})


def _check_goal_open(ledger: Ledger) -> None:
    if ledger.goal.status == "archived":
        raise Conflict("The goal is archived: unarchive it to change its activities.")


def _check_start(ledger: Ledger, activity: Activity) -> None:
    if activity.local_date < ledger.goal.start_date:
        raise ValidationFailed(
            fields={"occurred_at": [f"Is before the goal's start date ({ledger.goal.start_date})."]}
        )


# --- Services ------------------------------------------------------------------


def activity_log(
    *,
    user_id: str,
    goal_id: str,
    occurred_at: datetime,
    value: Any = None,
    note: str = "",
    activity_id: str | None = None,
) -> tuple[Activity, bool]:
    """Log an activity against a goal; returns it and whether it is new.

    With a client-chosen ``activity_id`` the log is idempotent: the same
    request again returns the stored activity (False); another request with
    that id is a 409.
    """
    goal_id = canonical_goal_id(goal_id)
    client_id = normalize_id(activity_id) if activity_id else None
    if activity_id and client_id is None:
        raise ValidationFailed(fields={"id": ["Must be a UUID."]})
    activity_id = client_id or new_ulid()
    if occurred_at.tzinfo is None:
        raise ValidationFailed(fields={"occurred_at": ["Needs a UTC offset."]})
    # The moment in UTC: the same instant written with another offset is the same request.
    moment = occurred_at.astimezone(UTC)
    request_hash = _fingerprint(
        {"goal_id": goal_id, "value": value, "occurred_at": moment, "note": note}
    )

    def attempt() -> tuple[Activity, bool]:
        keys = [(user_pk(user_id), goal_sk(goal_id)), (user_pk(user_id), progress_sk(goal_id))]
        if client_id:
            keys.append((user_pk(user_id), activity_sk(activity_id)))
        known = calendars.get(user_id, goal_id)
        guessed = known.period_key(moment) if known else None
        if guessed:
            keys.append((user_pk(user_id), bucket_sk(goal_id, guessed)))
        found = _read(keys)
        stored = found.get(activity_sk(activity_id))
        if isinstance(stored, Activity):
            return _replay(stored, request_hash)
        ledger = _ledger(user_id, goal_id, found)
        if calendars.remember(user_id, ledger.goal) == known and guessed:
            bucket = found.get(bucket_sk(goal_id, guessed))
            ledger.buckets[guessed] = (
                bucket if isinstance(bucket, PeriodBucket) else empty_bucket(ledger.goal, guessed)
            )
        _check_goal_open(ledger)
        _check_time(occurred_at, utcnow())
        activity = Activity(
            user_pk(user_id),
            activity_sk(activity_id),
            activity_id=activity_id,
            user_id=user_id,
            goal_id=goal_id,
            value=parse_value(ledger.goal.kind, value),
            occurred_at=occurred_at,
            note=note,
            request_hash=request_hash,
            sync_pk=user_pk(user_id),
        )
        ledger.place(activity)
        _check_start(ledger, activity)
        _load_buckets(ledger, {activity.period_key})
        ledger.count(activity, +1)
        activity.created_at = activity.updated_at = utcnow()
        transaction = Transaction()
        transaction.put("activity", activity, Activity.pk.does_not_exist())
        ledger.write(transaction)
        try:
            transaction.commit()
        except TransactionCancelled as cancelled:
            stored = cancelled.item("activity")
            if isinstance(stored, Activity):  # the same id won a race
                return _replay(stored, request_hash)
            _raise_for(cancelled)
        activity.version = 1
        return activity, True

    return _with_retries(attempt)


def _replay(stored: Activity, request_hash: str) -> tuple[Activity, bool]:
    if stored.request_hash != request_hash:
        raise Conflict("A different activity already has this id.")
    return stored, False


def _raise_for(cancelled: TransactionCancelled, expected_version: int | None = None) -> None:
    """Why the transaction did not happen, as the client should hear it; or
    ``_Retry`` when it only lost a race it may simply run again."""
    if cancelled.failed("goal"):
        goal = cancelled.item("goal")
        if not isinstance(goal, Goal):
            raise NotFound("No such goal.")
        if goal.status == "archived":
            raise Conflict("The goal is archived: unarchive it to change its activities.")
    if cancelled.failed("activity") and not isinstance(cancelled.item("activity"), Activity):
        raise NotFound("No such activity.")
    if cancelled.failed("activity") and expected_version is not None:
        raise PreconditionFailed("The activity has changed since you read it.")
    raise _Retry


def _open(user_id: str, activity_id: str, expected_version: int | None) -> tuple[Activity, Ledger]:
    """The stored activity (at the version the client saw) and its goal's
    ledger, for a change or a delete."""
    current = activity_get(user_id=user_id, activity_id=activity_id)
    if expected_version is not None and current.version != expected_version:
        raise PreconditionFailed("The activity has changed since you read it.")
    found = _read(
        [(current.pk, goal_sk(current.goal_id)), (current.pk, progress_sk(current.goal_id))]
    )
    ledger = _ledger(user_id, current.goal_id, found)
    _check_goal_open(ledger)
    return current, ledger


def activity_update(
    *, user_id: str, activity_id: str, changes: dict[str, Any], expected_version: int | None
) -> Activity:
    """Change an activity's value, time or note; the goal's totals follow."""
    unknown = set(changes) - {"value", "occurred_at", "note"}
    if unknown:
        raise ValidationFailed(fields={name: ["This field cannot be changed."] for name in unknown})
    if not changes:
        raise ValidationFailed("Send at least one field to change.")

    def attempt() -> Activity:
        current, ledger = _open(user_id, activity_id, expected_version)
        changed = Activity.from_raw_data(current.serialize())
        changed.sync_pk = current.pk  # an item older than delta sync joins it
        if "value" in changes:
            changed.value = parse_value(ledger.goal.kind, changes["value"])
        if "note" in changes:
            changed.note = changes["note"]
        if "occurred_at" in changes:
            _check_time(changes["occurred_at"], utcnow())
            changed.occurred_at = changes["occurred_at"]
        ledger.place(changed)
        _check_start(ledger, changed)
        _load_buckets(ledger, {current.period_key, changed.period_key})
        ledger.count(current, -1)
        _refresh_last_activity(ledger, current)
        ledger.count(changed, +1)
        changed.updated_at = utcnow()
        transaction = Transaction()
        transaction.put("activity", changed)  # guarded by its version
        ledger.write(transaction)
        try:
            transaction.commit()
        except TransactionCancelled as cancelled:
            _raise_for(cancelled, expected_version)
        changed.update_local_version_attribute()  # the put stored version + 1
        return changed

    return _with_retries(attempt)


def activity_delete(*, user_id: str, activity_id: str, expected_version: int | None) -> Activity:
    """Delete an activity; the goal's totals follow. Returns what was deleted
    (its attachments' files are the caller's to remove)."""

    def attempt() -> Activity:
        current, ledger = _open(user_id, activity_id, expected_version)
        _load_buckets(ledger, {current.period_key})
        ledger.count(current, -1)
        _refresh_last_activity(ledger, current)
        transaction = Transaction()
        transaction.delete("activity", current, Activity.version == current.version)
        tombstone = Tombstone.of(
            user_id, "activity", current.activity_id, utcnow(), goal_id=current.goal_id
        )
        transaction.overwrite("tombstone", tombstone)  # devices learn of the delete
        ledger.write(transaction)
        try:
            transaction.commit()
        except TransactionCancelled as cancelled:
            _raise_for(cancelled, expected_version)
        return current

    return _with_retries(attempt)
