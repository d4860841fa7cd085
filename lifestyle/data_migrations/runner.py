"""Run a data migration over the whole table: a parallel Scan, a guarded
write per item that needs one, and a checkpoint after every page.

**Reading.** A Scan split into ``segments`` (``Segment``/``TotalSegments``),
one thread each, ``page_size`` items per request. Eventually consistent:
a stale read costs nothing, because every write is guarded (below).

**Writing: conditional per-item updates, not BatchWriteItem.** BatchWriteItem
is fewer requests (25 items each), but it takes no condition: a user who
changed a goal between our Scan and our batch would have their change
silently replaced by the copy we read. Each changed item is instead written
by one UpdateItem that

- sets only the attributes the migration changed (and removes the ones it
  dropped), so nothing else it read can go stale;
- requires ``version`` to be what the Scan saw (``attribute_not_exists``
  when there was none) and the item to still exist, so a concurrent API
  write, or a delete, always wins; the failed condition returns the item as
  it now is (``ReturnValuesOnConditionCheckFailure``), which is migrated
  again and retried, at no extra read;
- bumps ``version``, as every write to this table does: the API's
  read-modify-write paths (an activity and its goal's totals are rewritten
  whole, guarded by their versions) then notice the migration and retry,
  instead of writing back a pre-migration copy. A client holding an ETag
  from before gets a 412 and reads again, as after any other change.

The price is one request per changed item instead of one per 25, i.e.
throughput bounded by round trips times threads (a few hundred items a
second per segment against DynamoDB in the same region). Items that need
no change cost no write at all, which is what makes a second run cheap.

**Checkpoints** (``records.py``): after each page, a segment stores the key
to continue from and its counts in the migration's record in the table, so
a rerun resumes where the last one stopped (an exception mid-page saves the
key of the last item finished, so counts stay exact; only a hard kill,
e.g. a Lambda timeout, loses a page's counts, never its writes). Items are
never written twice: a resumed page meets the items it already migrated,
and the migration leaves them equal.

**Throttling**: the shared botocore retry policy first, then
:class:`records.Table`'s longer backoff; ``rate`` caps items per second
across all segments, to leave capacity for the API.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings

from lifestyle.aws import botocore_config, client
from lifestyle.data_migrations import VERSION_ATTRIBUTE, DataMigration, Item
from lifestyle.data_migrations.records import (
    RECORD_PK,
    MigrationRecord,
    RecordStore,
    SegmentState,
    Table,
    error_code,
    from_dynamo,
    to_dynamo,
)
from lifestyle.timeutil import rfc3339, utcnow

logger = logging.getLogger(__name__)

DEFAULT_SEGMENTS = 4
MAX_SEGMENTS = 32
DEFAULT_PAGE_SIZE = 100
# An item whose version changes this many times between our read and our
# write is being edited right now: leave it for a later run.
MAX_CONFLICTS_PER_ITEM = 5
_CLIENT_POOL = 10  # botocore's default max_pool_connections

APPLIED = "applied"
ALREADY_APPLIED = "already applied"
PAUSED = "paused"
DRY_RUN = "dry run"


class MigrationError(Exception):
    """The migration cannot go on (a bug in it, or an item that never
    holds still); progress so far is saved."""


@dataclass(frozen=True)
class Progress:
    migration: DataMigration
    scanned: int  # in total, earlier runs included
    changed: int
    conflicts: int
    throttled: int
    segments_done: int
    total_segments: int
    elapsed: float
    scanned_this_run: int

    @property
    def per_second(self) -> float:
        return self.scanned_this_run / self.elapsed if self.elapsed > 0 else 0.0


@dataclass(frozen=True)
class RunResult:
    outcome: str  # APPLIED, ALREADY_APPLIED, PAUSED or DRY_RUN
    progress: Progress
    resumed: bool = False
    record: MigrationRecord | None = None


class RateLimiter:
    """At most ``rate`` items a second across every thread: each page
    books its items' time slots on one shared schedule and waits for its
    turn."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._next = clock()
        self._lock = threading.Lock()

    def delay_for(self, items: int) -> float:
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + items / self.rate
        return start - now


def dynamodb_client(threads: int) -> Any:
    """The shared client, or for more threads than its connection pool
    holds, one with a pool that size (same endpoint and retry policy)."""
    if threads <= _CLIENT_POOL:
        return client("dynamodb")
    import boto3

    return boto3.session.Session().client(
        "dynamodb",
        endpoint_url=settings.AWS_ENDPOINT_URL,
        config=botocore_config(max_pool_connections=threads),
    )


def run_migration(
    migration: DataMigration,
    *,
    table: str,
    segments: int = DEFAULT_SEGMENTS,
    dry_run: bool = False,
    page_size: int = DEFAULT_PAGE_SIZE,
    rate: float | None = None,
    max_seconds: float | None = None,
    dynamodb: Any = None,
    on_progress: Callable[[Progress], None] | None = None,
    progress_every: float = 2.0,
    now: Callable[[], datetime] = utcnow,
    backoff_seconds: float = 0.5,
) -> RunResult:
    """Apply ``migration`` to every item of ``table`` that needs it, resuming
    an unfinished run (with that run's segment count); a finished one is not
    run again. ``dry_run`` reads everything, from the start, and writes
    nothing (no checkpoint either). ``max_seconds`` stops cleanly at page
    boundaries once that much time has passed (for runs inside Lambda's
    time limit: run again to go on). Exceptions from the migration or AWS
    stop every segment at its next page, are saved in the checkpoint and
    re-raised."""
    if not 1 <= segments <= MAX_SEGMENTS:
        raise ValueError(f"segments must be between 1 and {MAX_SEGMENTS}.")
    if page_size < 1:
        raise ValueError("page_size must be at least 1.")
    if rate is not None and rate <= 0:
        raise ValueError("rate must be more than 0.")
    run = _Run(
        migration,
        Table(
            table,
            dynamodb if dynamodb is not None else dynamodb_client(segments),
            backoff_seconds=backoff_seconds,
        ),
        dry_run=dry_run,
        page_size=page_size,
        limiter=RateLimiter(rate) if rate else None,
        max_seconds=max_seconds,
        now=now,
    )
    return run.execute(segments, on_progress, progress_every)


class _Run:
    def __init__(
        self,
        migration: DataMigration,
        table: Table,
        *,
        dry_run: bool,
        page_size: int,
        limiter: RateLimiter | None,
        max_seconds: float | None,
        now: Callable[[], datetime],
    ) -> None:
        self.migration = migration
        self.table = table
        self.store = RecordStore(table)
        self.dry_run = dry_run
        self.page_size = page_size
        self.limiter = limiter
        self.now = now
        self.run_id = uuid.uuid4().hex
        self.started = time.monotonic()
        self.deadline = self.started + max_seconds if max_seconds is not None else None
        self.stop = threading.Event()
        self.paused = False
        self.scanned_this_run = 0
        self._count_lock = threading.Lock()
        self.keys: tuple[str, ...] = ()
        self.record: MigrationRecord | None = None
        self.states: dict[int, SegmentState] = {}

    # --- the run as a whole ----------------------------------------------------

    def execute(
        self, segments: int, on_progress: Callable[[Progress], None] | None, every: float
    ) -> RunResult:
        self.keys = self.table.key_attributes()
        existing = self.store.load(self.migration.number)
        if existing is not None and existing.applied:
            return self._already_applied(existing)
        resumed = False
        if self.dry_run:
            self.states = {segment: SegmentState() for segment in range(segments)}
        else:
            record, resumed = self._claim(segments, existing)
            if record.applied:
                return self._already_applied(record)
            self.record, self.states = record, record.segments

        self._run_segments(on_progress, every)
        total = len(self.states)
        if self.record is None:  # a dry run
            return RunResult(DRY_RUN, self._progress(total))
        if self.paused or not all(state.done for state in self.states.values()):
            return RunResult(PAUSED, self._progress(total), resumed, self.record)
        self.store.finish(self.record, now=rfc3339(self.now()))
        return RunResult(APPLIED, self._progress(total), resumed, self.record)

    def _already_applied(self, record: MigrationRecord) -> RunResult:
        self.states = record.segments
        return RunResult(ALREADY_APPLIED, self._progress(record.total_segments), record=record)

    def _claim(
        self, segments: int, existing: MigrationRecord | None
    ) -> tuple[MigrationRecord, bool]:
        """Take over the unfinished record (resuming: True) or start one.
        Two runs starting at once end with one record, owned by the later."""
        stamp = rfc3339(self.now())
        for _ in range(3):
            if existing is not None:
                record = self.store.take_over(self.migration.number, run_id=self.run_id, now=stamp)
                if record is not None:
                    return record, True
            else:
                record = self.store.create(
                    self.migration, run_id=self.run_id, total_segments=segments, now=stamp
                )
                if record is not None:
                    return record, False
            existing = self.store.load(self.migration.number)
            if existing is not None and existing.applied:
                return existing, False
        raise MigrationError(f"Could not start {self.migration.label}: its record keeps changing.")

    def _run_segments(self, on_progress: Callable[[Progress], None] | None, every: float) -> None:
        pending = {n: state for n, state in self.states.items() if not state.done}
        if not pending:
            return
        total = len(self.states)
        errors: list[BaseException] = []
        with ThreadPoolExecutor(
            max_workers=len(pending), thread_name_prefix=f"migrate-{self.migration.label}"
        ) as pool:
            futures: set[Future[None]] = {
                pool.submit(self._segment, n, total, state) for n, state in pending.items()
            }
            try:
                while futures:
                    finished, futures = wait(futures, timeout=every, return_when=FIRST_EXCEPTION)
                    for future in finished:
                        error = future.exception()
                        if error is not None:
                            errors.append(error)
                            self.stop.set()  # the others stop at their next page
                    if on_progress is not None:
                        on_progress(self._progress(total))
            except BaseException:  # Ctrl-C: let every segment save its checkpoint
                self.stop.set()
                wait(futures)
                raise
        if errors:
            raise errors[0]

    def _progress(self, total: int) -> Progress:
        states = self.states.values()
        return Progress(
            migration=self.migration,
            scanned=sum(state.scanned for state in states),
            changed=sum(state.changed for state in states),
            conflicts=sum(state.conflicts for state in states),
            throttled=self.table.throttled,
            segments_done=sum(state.done for state in states),
            total_segments=total,
            elapsed=time.monotonic() - self.started,
            scanned_this_run=self.scanned_this_run,
        )

    def _should_stop(self) -> bool:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.paused = True
            self.stop.set()
        return self.stop.is_set()

    # --- one segment -----------------------------------------------------------

    def _segment(self, segment: int, total: int, state: SegmentState) -> None:
        while not state.done and not self._should_stop():
            request: dict[str, Any] = {
                "Segment": segment,
                "TotalSegments": total,
                "Limit": self.page_size,
            }
            if state.last_key is not None:
                request["ExclusiveStartKey"] = to_dynamo(state.last_key)
            page = self.table.call("scan", **request)
            items = [from_dynamo(raw) for raw in page.get("Items", [])]
            if self.limiter is not None and self.stop.wait(self.limiter.delay_for(len(items))):
                return  # asked to stop while waiting for our turn: the page is not started
            try:
                self._migrate_page(items, state)
            except BaseException:
                try:
                    self._save(segment, state)  # exactly up to the last item finished
                except Exception:
                    logger.exception("segment %s: could not save the checkpoint", segment)
                raise
            last = page.get("LastEvaluatedKey")
            state.last_key = from_dynamo(last) if last else None
            state.done = last is None
            self._save(segment, state)

    def _migrate_page(self, items: Iterable[Item], state: SegmentState) -> None:
        """Migrate each item, moving ``state`` past it once it is finished,
        so an exception leaves ``state`` exactly at the last finished item."""
        now = self.now()
        for item in items:
            if item.get("pk") != RECORD_PK:  # our own records are no data
                if self._migrate_item(item, now, state):
                    state.changed += 1
                state.scanned += 1
                with self._count_lock:
                    self.scanned_this_run += 1
            state.last_key = {name: item[name] for name in self.keys}

    def _save(self, segment: int, state: SegmentState) -> None:
        if self.dry_run or self.record is None:
            return
        self.store.save_segment(
            self.migration.number,
            run_id=self.run_id,
            segment=segment,
            state=state,
            now=rfc3339(self.now()),
        )

    # --- one item --------------------------------------------------------------

    def _migrate_item(self, item: Item, now: datetime, state: SegmentState) -> bool:
        """True if the item was (or, in a dry run, would be) changed."""
        for _ in range(MAX_CONFLICTS_PER_ITEM + 1):
            if not self.migration.applies_to(item):
                return False
            changed = self.migration.transform(item, now)
            sets, removes = self._changes(item, changed)
            if not sets and not removes:
                return False
            if self.dry_run:
                return True
            written, current = self._write(item, sets, removes)
            if written:
                return True
            state.conflicts += 1
            if current is None:
                return False  # deleted since we read it: nothing left to migrate
            item = current
        key = {name: item[name] for name in self.keys}
        raise MigrationError(
            f"{self.migration.label}: item {key} changed {MAX_CONFLICTS_PER_ITEM + 1} times "
            "while being migrated; run again later."
        )

    def _changes(self, old: Item, new: Item) -> tuple[Item, list[str]]:
        for name in (*self.keys, VERSION_ATTRIBUTE):
            if new.get(name) != old.get(name):
                raise MigrationError(
                    f"{self.migration.label} changed {name!r}: a migration may change neither "
                    "the key nor the version."
                )
        sets = {name: value for name, value in new.items() if old.get(name, _MISSING) != value}
        removes = [name for name in old if name not in new]
        return sets, removes

    def _write(self, old: Item, sets: Item, removes: list[str]) -> tuple[bool, Item | None]:
        """One conditional UpdateItem; (True, None) when written, else
        (False, the item as stored now, or None if it is gone)."""
        from botocore.exceptions import ClientError

        names = {"#key": self.keys[0], "#version": VERSION_ATTRIBUTE}
        values: Item = {}
        assignments = []
        for index, (name, value) in enumerate(sets.items()):
            names[f"#s{index}"] = name
            values[f":s{index}"] = value
            assignments.append(f"#s{index} = :s{index}")
        seen = old.get(VERSION_ATTRIBUTE)
        values[":next"] = int(seen or 0) + 1
        assignments.append("#version = :next")
        expression = "SET " + ", ".join(assignments)
        if removes:
            for index, name in enumerate(removes):
                names[f"#r{index}"] = name
            expression += " REMOVE " + ", ".join(f"#r{index}" for index in range(len(removes)))
        if seen is None:
            condition = "attribute_exists(#key) AND attribute_not_exists(#version)"
        else:
            condition = "attribute_exists(#key) AND #version = :seen"
            values[":seen"] = seen
        try:
            self.table.call(
                "update_item",
                Key=to_dynamo({name: old[name] for name in self.keys}),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_dynamo(values),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            raw = error.response.get("Item")
            return False, from_dynamo(raw) if raw else None
        return True, None


_MISSING = object()


# --- what to run, and what was run ---------------------------------------------


class PlanError(ValueError):
    pass


def plan(
    migrations: list[DataMigration],
    records: dict[int, MigrationRecord],
    target: int | None = None,
) -> list[DataMigration]:
    """The migrations to run, in order: every one not applied yet, or only
    ``target``. Migrations may build on earlier ones, so ``target`` is
    refused while an earlier one is unapplied."""

    def applied(migration: DataMigration) -> bool:
        record = records.get(migration.number)
        return record is not None and record.applied

    if target is None:
        return [migration for migration in migrations if not applied(migration)]
    chosen = next((m for m in migrations if m.number == target), None)
    if chosen is None:
        known = ", ".join(m.label for m in migrations) or "none"
        raise PlanError(f"There is no data migration {target:04d} (known: {known}).")
    earlier = [m.label for m in migrations if m.number < target and not applied(m)]
    if earlier:
        raise PlanError(
            f"{chosen.label} comes after {', '.join(earlier)}, not applied yet: run "
            "migrate_data without a number to apply them all in order."
        )
    return [] if applied(chosen) else [chosen]


def status(record: MigrationRecord | None) -> str:
    """One migration's state, for ``migrate_data --list``."""
    if record is None:
        return "pending"
    if record.applied:
        return (
            f"applied {record.finished_at}: {record.changed:,} of {record.scanned:,} items changed"
        )
    return (
        f"in progress (resumable): {record.segments_done}/{record.total_segments} segments done, "
        f"{record.scanned:,} items scanned, {record.changed:,} changed, "
        f"last checkpoint {record.updated_at}"
    )
