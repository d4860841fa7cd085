"""Are a goal's stored aggregates what its activities say? And if not, fix them.

Every activity write moves the activity, the goal's progress item and its
period bucket in one transaction (activities/services.py), so the totals
should never drift. This module is the proof, and the repair for the day
they did anyway (a bug, a hand edit, a restore of part of a partition):

**Checking one goal** (:func:`check_goal`). Read the goal, its progress item
and its buckets, then the goal's activities a page at a time through the
``by_goal_time`` index, and *replay* them into an empty
:class:`~activities.services.Ledger`, the very code every write uses, so the
expected totals, buckets and runs of met periods come from the same
arithmetic as the stored ones. Then compare, field by field. All reads are
strongly consistent. Every write to a goal bumps its progress item's
version, so the progress item is read again at the end: if its version
moved, a write landed while we read and the snapshot is taken again (a
check under live traffic never reports a write in flight as drift).

**What is reported** (:class:`Finding`):

- ``drift``: a progress field (``total``, ``activity_count``,
  ``last_activity_at``, ``met_runs``) or a bucket's ``total`` /
  ``activity_count`` differs from the replay, or a bucket is missing;
- ``orphan``: a bucket for a period with no activities (or any bucket of a
  one-off goal);
- ``misplaced`` (report only): an activity whose ``local_date`` or
  ``period_key`` is not what its goal's calendar gives for its time. Its
  aggregates follow the stored values, as the writes do;
- ``missing_goal`` (report only): activities or aggregates whose goal does
  not exist.

**Met periods and target changes.** A period counts as met with the target
in force when it was last written: README, "a target change applies from
the current period on". The replay uses today's target, so it can only
judge a period whose last write came after the goal's last change: one
holding an activity logged at or after the goal's ``updated_at``. For
older periods the stored verdict stands, as long as the period has
activities at all.

**Repairing** (:func:`repair_goal`) rewrites the progress item and the
drifted buckets to the replayed values (and deletes orphan buckets), never
an activity. The progress item is written on condition that its version is
still the one the snapshot read, each bucket likewise, and the goal must
still exist: a concurrent API write wins, and the repair takes a new
snapshot and tries again, a few times at most.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings

from activities import periods
from activities.models import Activity, GoalProgress, PeriodBucket, bucket_sk, progress_sk
from activities.services import Ledger, empty_bucket, empty_progress
from goals.models import Goal
from lifestyle.data_migrations.records import Table
from lifestyle.data_migrations.runner import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_SEGMENTS,
    MAX_SEGMENTS,
    dynamodb_client,
)
from lifestyle.dynamo import Transaction, TransactionCancelled, goal_sk, user_pk

DRIFT = "drift"
ORPHAN = "orphan"
MISPLACED = "misplaced"
MISSING_GOAL = "missing_goal"
REPAIRABLE = frozenset({DRIFT, ORPHAN})

SNAPSHOT_ATTEMPTS = 5  # a goal written to this often while we read it is "busy"
REPAIR_ATTEMPTS = 3
PAGE_SIZE = 200
# TransactWriteItems takes 100 actions; one is the goal check, one the progress item.
BUCKETS_PER_TRANSACTION = 98
NONE = "none"


@dataclass(frozen=True)
class Finding:
    """One thing that is not as the activities say."""

    kind: str
    user_id: str
    goal_id: str
    subject: str  # the field, "bucket {period}", or "activity {id}"
    stored: str
    expected: str

    @property
    def repairable(self) -> bool:
        return self.kind in REPAIRABLE

    def line(self) -> str:
        where = f"{self.kind:<12} user {self.user_id} goal {self.goal_id} {self.subject}"
        if self.kind == MISSING_GOAL:
            left = f" ({self.stored})" if self.stored else ""
            return f"{where}{left}: the goal does not exist"
        return f"{where}: stored {self.stored}, expected {self.expected}"


class GoalBusy(Exception):
    """The goal kept changing while we read it: check it again later."""


@dataclass
class Snapshot:
    """A goal's stored aggregates and what its activities say they must be,
    read at one version of its progress item."""

    goal: Goal
    stored_progress: GoalProgress | None
    stored_buckets: dict[str, PeriodBucket]
    expected: Ledger
    misplaced: list[Finding] = field(default_factory=list)

    @property
    def user_id(self) -> str:
        return str(self.goal.user_id)

    @property
    def goal_id(self) -> str:
        return str(self.goal.goal_id)

    def findings(self) -> list[Finding]:
        return [*self._progress_drift(), *self._bucket_drift(), *self.misplaced]

    def _finding(self, kind: str, subject: str, stored: str, expected: str) -> Finding:
        return Finding(kind, self.user_id, self.goal_id, subject, stored, expected)

    def _progress_drift(self) -> Iterator[Finding]:
        stored = self.stored_progress or empty_progress(self.goal)
        expected = self.expected.progress
        if stored.total != expected.total:
            yield self._finding(DRIFT, "total", _number(stored.total), _number(expected.total))
        if stored.activity_count != expected.activity_count:
            yield self._finding(
                DRIFT,
                "activity_count",
                str(stored.activity_count),
                str(expected.activity_count),
            )
        if stored.last_activity_at != expected.last_activity_at:
            yield self._finding(
                DRIFT,
                "last_activity_at",
                _moment(stored.last_activity_at),
                _moment(expected.last_activity_at),
            )
        if _runs_or_none(stored.met_runs) != _runs_or_none(expected.met_runs):
            yield self._finding(DRIFT, "met_runs", stored.met_runs, expected.met_runs)

    def _bucket_drift(self) -> Iterator[Finding]:
        expected_buckets = self.expected.buckets
        for key in sorted(set(self.stored_buckets) | set(expected_buckets)):
            stored, expected = self.stored_buckets.get(key), expected_buckets.get(key)
            subject = f"bucket {key}"
            if expected is None and stored is not None:
                yield self._finding(ORPHAN, subject, _bucket_text(stored), NONE)
            elif stored is None and expected is not None:
                yield self._finding(DRIFT, subject, NONE, _bucket_text(expected))
            elif stored is not None and expected is not None:
                if stored.total != expected.total:
                    yield self._finding(
                        DRIFT, f"{subject} total", _number(stored.total), _number(expected.total)
                    )
                if stored.activity_count != expected.activity_count:
                    yield self._finding(
                        DRIFT,
                        f"{subject} activity_count",
                        str(stored.activity_count),
                        str(expected.activity_count),
                    )

    def repair_ledger(self) -> Ledger:
        """The aggregates a repair writes: the replayed progress item under
        the stored one's version, the buckets that differ under theirs, and
        the orphans emptied (``Ledger.write_aggregates`` deletes those)."""
        progress = _copy(self.expected.progress)  # version None: "must not exist yet"
        if self.stored_progress is not None:
            progress.version = self.stored_progress.version
        ledger = Ledger(goal=self.goal, progress=progress)
        for key, expected in self.expected.buckets.items():
            stored = self.stored_buckets.get(key)
            if stored is not None and (
                (stored.total, stored.activity_count) == (expected.total, expected.activity_count)
            ):
                continue
            bucket = _copy(expected)
            if stored is not None:
                bucket.version = stored.version
            ledger.buckets[key] = bucket
        for key, stored in self.stored_buckets.items():
            if key not in self.expected.buckets:
                orphan = _copy(stored)
                orphan.activity_count = 0
                ledger.buckets[key] = orphan
        return ledger

    def planned_writes(self) -> list[str]:
        """What a repair would write, one line per item, for ``--dry-run``."""
        if not any(finding.repairable for finding in self.findings()):
            return []
        ledger = self.repair_ledger()
        progress = ledger.progress
        lines = [
            f"put    {progress.sk}: total {_number(progress.total)}, "
            f"activity_count {progress.activity_count}, "
            f"last_activity_at {_moment(progress.last_activity_at)}, met_runs {progress.met_runs}"
        ]
        for key in sorted(ledger.buckets):
            bucket = ledger.buckets[key]
            if bucket.activity_count > 0:
                lines.append(f"put    {bucket.sk}: {_bucket_text(bucket)}")
            else:
                lines.append(f"delete {bucket.sk}")
        return lines


# --- Reading -----------------------------------------------------------------------------


def _copy(item: Any) -> Any:
    return type(item).from_raw_data(item.serialize())


def _get(model: type[Any], pk: str, sk: str) -> Any:
    try:
        return model.get(pk, sk, consistent_read=True)
    except model.DoesNotExist:
        return None


def _stored_buckets_of(pk: str, goal_id: str) -> dict[str, PeriodBucket]:
    found = PeriodBucket.query(
        pk,
        PeriodBucket.sk.startswith(bucket_sk(goal_id, "")),
        consistent_read=True,
        page_size=PAGE_SIZE,
    )
    return {bucket.period_key: bucket for bucket in found}


def goal_activities(pk: str, goal_id: str) -> Iterator[Activity]:
    """The goal's activities in time order, a page at a time (one Query on
    ``by_goal_time`` per page, strongly consistent)."""
    return iter(
        Activity.by_goal_time.query(
            pk,
            Activity.goal_time.startswith(f"{goal_id}#"),
            consistent_read=True,
            page_size=PAGE_SIZE,
        )
    )


def _progress_version(goal: Goal) -> int | None:
    progress = _get(GoalProgress, goal.pk, progress_sk(goal.goal_id))
    return progress.version if progress is not None else None


# --- Replaying -----------------------------------------------------------------------------


def replay(
    goal: Goal, activities: Iterable[Activity], stored_runs: str | None = None
) -> tuple[Ledger, list[Finding]]:
    """The aggregates ``activities`` make, counted by the writes' own
    :meth:`Ledger.count`, and the activities placed off the goal's calendar.

    ``stored_runs`` (the stored ``met_runs``) decides the met periods the
    replay cannot judge (see the module's docstring)."""
    ledger = Ledger(goal=goal, progress=empty_progress(goal))
    judged: set[str] = set()
    index_of: dict[str, int] = {}
    misplaced: list[Finding] = []
    for activity in activities:
        misplaced.extend(_misplacement(goal, activity))
        if ledger.recurring:
            key = activity.period_key
            if key not in ledger.buckets:
                ledger.buckets[key] = empty_bucket(goal, key)
                index_of[key] = goal.period_index(date.fromisoformat(activity.local_date))
            if activity.created_at >= goal.updated_at:
                judged.add(key)
        ledger.count(activity, +1)
    if ledger.recurring:
        _keep_unjudged_verdicts(ledger, stored_runs, judged, index_of)
    return ledger, misplaced


def _keep_unjudged_verdicts(
    ledger: Ledger, stored_runs: str | None, judged: set[str], index_of: dict[str, int]
) -> None:
    """Periods last written before the goal last changed (its target may
    have been another) keep the stored met/not-met verdict."""
    stored = _runs_or_none(stored_runs) or []
    runs = periods.decode_runs(json.loads(ledger.progress.met_runs))
    for key, index in index_of.items():
        if key in judged:
            continue
        if any(first <= index <= last for first, last in stored):
            runs = periods.runs_add(runs, index)
        else:
            runs = periods.runs_remove(runs, index)
    ledger.progress.met_runs = json.dumps(periods.encode_runs(runs))


def _misplacement(goal: Goal, activity: Activity) -> list[Finding]:
    day = goal.local_date(activity.occurred_at)
    expected = {"local_date": day.isoformat(), "period_key": goal.period_key(day)}
    return [
        Finding(
            MISPLACED,
            str(goal.user_id),
            str(goal.goal_id),
            f"activity {activity.activity_id} {name}",
            str(getattr(activity, name)),
            value,
        )
        for name, value in expected.items()
        if getattr(activity, name) != value
    ]


# --- One goal --------------------------------------------------------------------------------


def snapshot(user_id: str, goal_id: str) -> Snapshot | None:
    """The goal's aggregates, stored and replayed, at one version of its
    progress item; None if the goal does not exist; GoalBusy if it kept
    changing."""
    pk = user_pk(user_id)
    for _ in range(SNAPSHOT_ATTEMPTS):
        goal = _get(Goal, pk, goal_sk(goal_id))
        if goal is None:
            return None
        progress = _get(GoalProgress, pk, progress_sk(goal_id))
        buckets = _stored_buckets_of(pk, goal_id)
        expected, misplaced = replay(
            goal, goal_activities(pk, goal_id), progress.met_runs if progress else None
        )
        if _progress_version(goal) == (progress.version if progress else None):
            return Snapshot(goal, progress, buckets, expected, misplaced)
    raise GoalBusy(f"goal {goal_id} of user {user_id} changed {SNAPSHOT_ATTEMPTS} times")


def check_goal(user_id: str, goal_id: str) -> list[Finding]:
    """What is wrong with the goal's aggregates; [] when nothing (or no goal)."""
    found = snapshot(user_id, goal_id)
    return found.findings() if found is not None else []


@dataclass(frozen=True)
class RepairResult:
    user_id: str
    goal_id: str
    outcome: str  # REPAIRED, NOTHING_TO_DO, GONE or BUSY
    fixed: tuple[Finding, ...] = ()
    attempts: int = 1


REPAIRED = "repaired"
NOTHING_TO_DO = "nothing to repair"
GONE = "goal gone"
BUSY = "busy: try again later"


def repair_goal(user_id: str, goal_id: str, *, attempts: int = REPAIR_ATTEMPTS) -> RepairResult:
    """Rewrite the goal's aggregates to what its activities say. A write
    to the goal that lands first wins: the repair then reads again and
    retries, up to ``attempts`` times."""
    for attempt in range(1, attempts + 1):
        try:
            found = snapshot(user_id, goal_id)
        except GoalBusy:
            continue
        if found is None:
            return RepairResult(user_id, goal_id, GONE, attempts=attempt)
        fixable = tuple(finding for finding in found.findings() if finding.repairable)
        if not fixable:
            return RepairResult(user_id, goal_id, NOTHING_TO_DO, attempts=attempt)
        try:
            _write_repair(found)
        except TransactionCancelled:
            continue
        return RepairResult(user_id, goal_id, REPAIRED, fixable, attempt)
    return RepairResult(user_id, goal_id, BUSY, attempts=attempts)


def _write_repair(found: Snapshot) -> None:
    """One transaction, or several for a goal with more than
    BUCKETS_PER_TRANSACTION buckets to fix: each one but the last only
    checks that the progress item still has the version read, the last
    writes it. A write to the goal in between makes the rest fail; what was
    written by then is what the activities said at that version, which the
    API's next write builds on, and the retry reads again."""
    ledger = found.repair_ledger()
    goal, progress = found.goal, ledger.progress
    keys = sorted(ledger.buckets)
    size = BUCKETS_PER_TRANSACTION
    chunks = [keys[i : i + size] for i in range(0, len(keys), size)] or [[]]
    for number, chunk in enumerate(chunks, start=1):
        part = Ledger(goal=goal, progress=progress, buckets={k: ledger.buckets[k] for k in chunk})
        transaction = Transaction()
        transaction.check("goal", Goal, (goal.pk, goal.sk), Goal.pk.exists())
        if number == len(chunks):
            part.write_aggregates(transaction)
        else:
            unchanged = (
                GoalProgress.pk.does_not_exist()
                if progress.version is None
                else GoalProgress.version == progress.version
            )
            transaction.check("progress", GoalProgress, (progress.pk, progress.sk), unchanged)
            part.write_buckets(transaction)
        transaction.commit()


# --- Whole users and tables ------------------------------------------------------------------


CHECKED_TYPES = ("Goal", "Activity", "GoalProgress", "PeriodBucket")


@dataclass(frozen=True)
class CheckProgress:
    goals: int
    goals_with_findings: int
    findings: int
    elapsed: float

    @property
    def per_second(self) -> float:
        return self.goals / self.elapsed if self.elapsed > 0 else 0.0


@dataclass
class Report:
    """What a check of one user or the whole table found."""

    goals: int = 0
    findings: list[Finding] = field(default_factory=list)
    busy: list[tuple[str, str]] = field(default_factory=list)  # (user, goal) never still
    # Goals seen, and goals that activities and aggregates refer to, to
    # find references to goals that do not exist once everything is read.
    seen: set[tuple[str, str]] = field(default_factory=set)
    referenced: set[tuple[str, str]] = field(default_factory=set)

    def goals_to_repair(self) -> list[tuple[str, str]]:
        return sorted({(f.user_id, f.goal_id) for f in self.findings if f.repairable})

    @property
    def goals_with_findings(self) -> int:
        return len({(f.user_id, f.goal_id) for f in self.findings})


class _Checker:
    """Feeds raw items (from a Query of one partition or a Scan of the
    table, from any number of threads) and checks each goal met."""

    def __init__(self, on_progress: Callable[[CheckProgress], None] | None, every: int) -> None:
        self.report = Report()
        self.on_progress = on_progress
        self.every = every
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def take(self, raw: dict[str, Any]) -> None:
        kind = raw.get("type", {}).get("S")
        pk = raw.get("pk", {}).get("S", "")
        goal_id = raw.get("goal_id", {}).get("S")
        if kind not in CHECKED_TYPES or not goal_id or not pk.startswith("USER#"):
            return
        user_id = pk.removeprefix("USER#")
        if kind != "Goal":
            with self._lock:
                self.report.referenced.add((user_id, goal_id))
            return
        findings: list[Finding] = []
        busy = False
        try:
            findings = check_goal(user_id, goal_id)
        except GoalBusy:
            busy = True
        with self._lock:
            report = self.report
            report.seen.add((user_id, goal_id))
            report.goals += 1
            report.findings.extend(findings)
            if busy:
                report.busy.append((user_id, goal_id))
            due = self.on_progress is not None and report.goals % self.every == 0
        if due:
            self.show()

    def show(self) -> None:
        if self.on_progress is None:
            return
        with self._lock:
            report = self.report
            progress = CheckProgress(
                report.goals,
                report.goals_with_findings,
                len(report.findings),
                time.monotonic() - self.started,
            )
        self.on_progress(progress)

    def finish(self) -> Report:
        """Report what refers to goals that do not exist."""
        report = self.report
        for user_id, goal_id in sorted(report.referenced - report.seen):
            report.findings.extend(missing_goal_findings(user_id, goal_id))
        report.findings.sort(key=lambda f: (f.user_id, f.goal_id, f.kind, f.subject))
        if report.goals == 0 or report.goals % self.every:
            self.show()  # the last count, unless its line was just shown
        return report


def check_user(
    user_id: str,
    *,
    table: Table | None = None,
    on_progress: Callable[[CheckProgress], None] | None = None,
    every: int = 100,
) -> Report:
    """Check every goal of one user: a Query of their partition a page at
    a time (goals, activities and aggregates only), each goal checked as
    it comes."""
    table = table or Table(settings.DYNAMODB_TABLE)
    checker = _Checker(on_progress, every)
    request: dict[str, Any] = {
        "KeyConditionExpression": "pk = :pk",
        "ConsistentRead": True,
        **_only_checked_types({":pk": {"S": user_pk(user_id)}}),
    }
    while True:
        page = table.call("query", **request)
        for raw in page.get("Items", []):
            checker.take(raw)
        if not page.get("LastEvaluatedKey"):
            return checker.finish()
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def check_table(
    *,
    segments: int = DEFAULT_SEGMENTS,
    table: Table | None = None,
    on_progress: Callable[[CheckProgress], None] | None = None,
    every: int = 100,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Report:
    """Check every goal of every user: a parallel Scan (``segments``
    threads, each its own part of the table; eventually consistent, which
    costs nothing, because each goal is then read strongly consistent),
    each goal checked as it comes."""
    if not 1 <= segments <= MAX_SEGMENTS:
        raise ValueError(f"segments must be between 1 and {MAX_SEGMENTS}.")
    table = table or Table(settings.DYNAMODB_TABLE, dynamodb_client(segments))
    checker = _Checker(on_progress, every)

    def scan(segment: int) -> None:
        request: dict[str, Any] = {
            "Segment": segment,
            "TotalSegments": segments,
            "Limit": page_size,
            **_only_checked_types({}),
        }
        while True:
            page = table.call("scan", **request)
            for raw in page.get("Items", []):
                checker.take(raw)
            if not page.get("LastEvaluatedKey"):
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    with ThreadPoolExecutor(max_workers=segments, thread_name_prefix="check") as pool:
        for future in [pool.submit(scan, segment) for segment in range(segments)]:
            future.result()  # the first error stops the check
    return checker.finish()


def _only_checked_types(values: dict[str, Any]) -> dict[str, Any]:
    """FilterExpression (and its names and values) keeping goals,
    activities and aggregates: the rest of a partition is not read twice."""
    kinds = {f":type{i}": {"S": kind} for i, kind in enumerate(CHECKED_TYPES)}
    return {
        "FilterExpression": f"#type IN ({', '.join(kinds)})",
        "ExpressionAttributeNames": {"#type": "type"},
        "ExpressionAttributeValues": {**kinds, **values},
    }


def missing_goal_findings(user_id: str, goal_id: str) -> list[Finding]:
    """One finding per activity of a goal that does not exist, and one for
    the aggregates it left."""
    pk = user_pk(user_id)
    if _get(Goal, pk, goal_sk(goal_id)) is not None:
        return []  # created since the scan passed
    findings = [
        Finding(MISSING_GOAL, user_id, goal_id, f"activity {a.activity_id}", "", NONE)
        for a in goal_activities(pk, goal_id)
    ]
    progress = _get(GoalProgress, pk, progress_sk(goal_id))
    buckets = _stored_buckets_of(pk, goal_id)
    left = (["progress item"] if progress is not None else []) + [
        f"bucket {key}" for key in sorted(buckets)
    ]
    if left:
        findings.append(
            Finding(MISSING_GOAL, user_id, goal_id, "aggregates", ", ".join(left), NONE)
        )
    return findings


def _number(value: Decimal) -> str:
    return str(value.normalize() + 0)  # 10, not 1E+1; 12.5, not 12.50


def _moment(value: datetime | None) -> str:
    return value.isoformat() if value is not None else NONE


def _bucket_text(bucket: PeriodBucket) -> str:
    return f"total {_number(bucket.total)}, {bucket.activity_count} activities"


def _runs_or_none(text: str | None) -> list[periods.Run] | None:
    """The stored runs, or None when they cannot be read (which is drift)."""
    if text is None:
        return None
    try:
        return periods.decode_runs(json.loads(text))
    except ValueError:
        return None
