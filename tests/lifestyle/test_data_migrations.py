"""Data migrations (``lifestyle.data_migrations``, ``manage.py migrate_data``)
against moto's server, each test on a scratch table of its own built with
the product's table spec, so a table-wide Scan never meets other tests' data.
"""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test.utils import override_settings
from pynamodb.attributes import UTCDateTimeAttribute
from rest_framework.test import APIClient

from lifestyle import dynamo
from lifestyle.aws import botocore_config, client
from lifestyle.data_migrations import (
    DataMigration,
    RegistryError,
    discover,
    parse_number,
)
from lifestyle.data_migrations.m0002_schema_version_2 import migration as m0002
from lifestyle.data_migrations.records import (
    RECORD_PK,
    MigrationRecord,
    RecordStore,
    Table,
    from_dynamo,
    to_dynamo,
)
from lifestyle.data_migrations.runner import (
    ALREADY_APPLIED,
    APPLIED,
    DRY_RUN,
    PAUSED,
    MigrationError,
    PlanError,
    RateLimiter,
    plan,
    run_migration,
)
from lifestyle.provisioning import ensure_table
from lifestyle.ratelimit import PK_PREFIX as RATE_PREFIX
from tests.conftest import User, manage_py

T1 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
STAMP = UTCDateTimeAttribute()


# --- fixtures and helpers --------------------------------------------------------


@pytest.fixture
def table() -> Iterator[str]:
    name = f"migrations-test-{uuid.uuid4().hex[:8]}"
    ensure_table(name, lambda line: None)
    yield name
    client("dynamodb").delete_table(TableName=name)


@pytest.fixture
def dynamodb() -> Any:
    """A client of the runner's own (same endpoint and retry policy as the
    shared one), so a test can hook its requests without touching others'."""
    import boto3

    return boto3.session.Session().client(
        "dynamodb", endpoint_url=settings.AWS_ENDPOINT_URL, config=botocore_config()
    )


def put_items(table: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": to_dynamo(item)}} for item in items[start : start + 25]]
        pending: dict[str, Any] = {table: requests}
        while pending:
            pending = client("dynamodb").batch_write_item(RequestItems=pending)["UnprocessedItems"]


def all_items(table: str) -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for page in client("dynamodb").get_paginator("scan").paginate(TableName=table):
        for raw in page["Items"]:
            item = from_dynamo(raw)
            found[(item["pk"], item["sk"])] = item
    return found


def data_items(table: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {key: item for key, item in all_items(table).items() if key[0] != RECORD_PK}


def v1_goal(user: str, number: int, **extra: Any) -> dict[str, Any]:
    """A goal as version-1 code wrote it: no schema_version, migrated_at,
    created_at or updated_at."""
    goal_id = str(uuid.UUID(int=number))
    return {
        "pk": f"USER#{user}",
        "sk": f"GOAL#{goal_id}",
        "type": "Goal",
        "goal_id": goal_id,
        "user_id": user,
        "title": f"Goal {number}",
        "kind": "habit",
        "period": "daily",
        "start_date": "2026-01-01",
        "timezone": "UTC",
        "status": "active",
        "version": 1,
        **extra,
    }


def seeded(table: str, users: int = 30, per_user: int = 10) -> dict[str, int]:
    """``users * per_user`` goals over ``users`` partitions (so every segment
    has some): a third without schema_version, a third at 1, a third already
    at 2, plus an item without a version and one that is not an entity."""
    items = []
    counts = {"pending": 0, "done": 0}
    for u in range(users):
        for g in range(per_user):
            number = u * per_user + g
            shape = number % 3
            if shape == 0:
                items.append(v1_goal(f"u{u}", number))
            elif shape == 1:
                items.append(v1_goal(f"u{u}", number, schema_version=1))
            else:
                items.append(
                    v1_goal(f"u{u}", number, schema_version=2, migrated_at="before", version=4)
                )
            counts["done" if shape == 2 else "pending"] += 1
    no_version = v1_goal("u0", 10_000)
    del no_version["version"]
    items.append(no_version)
    items.append({"pk": "STATS#x", "sk": "y", "count": 3})  # no type: not an entity
    counts["pending"] += 1
    put_items(table, items)
    return {**counts, "total": len(items)}


@contextmanager
def hook(dynamodb: Any, event: str, handler: Callable[..., Any]) -> Iterator[None]:
    dynamodb.meta.events.register(event, handler)
    try:
        yield
    finally:
        dynamodb.meta.events.unregister(event, handler)


class Calls:
    """Counts a client's requests by operation (thread-safe)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, model: Any, **kwargs: Any) -> None:
        with self._lock:
            self.counts[model.name] = self.counts.get(model.name, 0) + 1


@contextmanager
def counting(dynamodb: Any) -> Iterator[Calls]:
    calls = Calls()
    with hook(dynamodb, "before-parameter-build.dynamodb", calls):
        yield calls


@contextmanager
def api_on(table: str) -> Iterator[None]:
    """The API (its PynamoDB models) pointed at ``table`` for a while."""
    try:
        with override_settings(DYNAMODB_TABLE=table):
            dynamo.configure_models()
            yield
    finally:
        dynamo.configure_models()


def record(table: str, number: int = 2) -> MigrationRecord | None:
    return RecordStore(Table(table)).load(number)


# --- the registry ----------------------------------------------------------------


def test_registry_finds_the_migrations_in_order() -> None:
    migrations = discover()
    assert [m.label for m in migrations] == ["0002", "0003"]
    assert migrations[0] is m0002
    assert str(m0002) == f"0002: {m0002.description}"


def test_registry_refuses_a_misnamed_or_inconsistent_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def package(name: str, modules: dict[str, str]) -> str:
        root = tmp_path / name
        root.mkdir()
        (root / "__init__.py").write_text("")
        for module, text in modules.items():
            (root / f"{module}.py").write_text(text)
        return name

    monkeypatch.syspath_prepend(str(tmp_path))
    declare = (
        "from lifestyle.data_migrations import DataMigration\n"
        "migration = DataMigration({n}, {d!r}, lambda item: True, lambda item, now: item)\n"
    )
    good = package(
        "mig_good",
        {
            "m0003_b": declare.format(n=3, d="b"),
            "helpers": "",
            "m0002_a": declare.format(n=2, d="a"),
        },
    )
    assert [m.number for m in discover(good)] == [2, 3]
    cases = {
        "mig_wrong_number": ({"m0002_a": declare.format(n=3, d="a")}, "declares number 3"),
        "mig_bad_name": ({"m2_a": declare.format(n=2, d="a")}, "named m{NNNN}"),
        "mig_no_declaration": ({"m0002_a": "x = 1\n"}, "defines no"),
        "mig_duplicate": (
            {"m0002_a": declare.format(n=2, d="a"), "m0002_b": declare.format(n=2, d="b")},
            "Two migrations",
        ),
        "mig_two_lines": ({"m0002_a": declare.format(n=2, d="a\nb")}, "one non-empty line"),
    }
    for name, (modules, message) in cases.items():
        with pytest.raises(RegistryError, match=message.replace("{", r"\{").replace("}", r"\}")):
            discover(package(name, modules))


@pytest.mark.parametrize(("text", "number"), [("2", 2), ("0002", 2), ("m0002", 2), (" 12 ", 12)])
def test_parse_number(text: str, number: int) -> None:
    assert parse_number(text) == number


@pytest.mark.parametrize("text", ["", "abc", "-1", "00002", "2.0", "m"])
def test_parse_number_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a migration number"):
        parse_number(text)


def test_0002_transform_is_pure_and_idempotent() -> None:
    item = v1_goal("u", 1)
    migrated = m0002.transform(item, T1)
    assert item == v1_goal("u", 1)  # the input is left alone
    assert migrated == {**item, "schema_version": 2, "migrated_at": STAMP.serialize(T1)}
    assert STAMP.deserialize(migrated["migrated_at"]) == T1
    assert m0002.transform(migrated, T2) == migrated
    assert not m0002.applies_to(migrated)
    assert m0002.applies_to({**item, "schema_version": Decimal(1)})
    assert not m0002.applies_to({"pk": "STATS#x", "sk": "y"})


def test_plan() -> None:
    def fake(number: int) -> DataMigration:
        return DataMigration(number, f"m{number}", lambda item: True, lambda item, now: item)

    def done(number: int) -> MigrationRecord:
        return MigrationRecord(number=number, status="done", run_id="r", total_segments=1)

    migrations = [fake(2), fake(3), fake(4)]
    assert plan(migrations, {}) == migrations
    assert plan(migrations, {2: done(2)}) == migrations[1:]
    assert plan(migrations, {2: done(2)}, 3) == [migrations[1]]
    assert plan(migrations, {2: done(2), 3: done(3)}, 3) == []
    with pytest.raises(PlanError, match="comes after 0002, 0003"):
        plan(migrations, {}, 4)
    with pytest.raises(PlanError, match=r"no data migration 0009 \(known: 0002, 0003, 0004\)"):
        plan(migrations, {}, 9)


def test_rate_limiter_books_slots_on_one_schedule() -> None:
    now = [100.0]
    limiter = RateLimiter(50, clock=lambda: now[0])
    assert limiter.delay_for(100) == 0  # the first page goes at once ...
    assert limiter.delay_for(100) == pytest.approx(2.0)  # ... the next after its 2 s
    assert limiter.delay_for(50) == pytest.approx(4.0)
    now[0] = 110.0  # idle time is not saved up
    assert limiter.delay_for(10) == 0


# --- the runner --------------------------------------------------------------------


def test_migrates_every_item_across_segments_once(table: str, dynamodb: Any) -> None:
    counts = seeded(table)
    before = data_items(table)
    seen: list[Any] = []

    with counting(dynamodb) as calls:
        result = run_migration(
            m0002,
            table=table,
            segments=4,
            page_size=25,
            dynamodb=dynamodb,
            now=lambda: T1,
            on_progress=seen.append,
            progress_every=0.05,
        )

    assert result.outcome == APPLIED
    assert not result.resumed
    progress = result.progress
    assert (progress.scanned, progress.changed, progress.conflicts) == (
        counts["total"],
        counts["pending"],
        0,
    )
    assert progress.segments_done == progress.total_segments == 4
    assert seen
    assert seen[-1].scanned == counts["total"]
    # One conditional write per changed item, none for the others.
    pages = calls.counts["Scan"]
    assert pages >= 302 // 25
    assert calls.counts["UpdateItem"] == counts["pending"] + pages + 1  # + checkpoints, finish
    assert "BatchWriteItem" not in calls.counts

    after = data_items(table)
    assert after.keys() == before.keys()
    for key, old in before.items():
        new = after[key]
        if m0002.applies_to(old):
            assert new == {
                **old,
                "schema_version": 2,
                "migrated_at": STAMP.serialize(T1),
                "version": old.get("version", 0) + 1,
            }, key
        else:
            assert new == old, key
    stored = record(table)
    assert stored is not None
    assert stored.applied
    assert (stored.scanned, stored.changed) == (counts["total"], counts["pending"])
    assert sum(1 for state in stored.segments.values() if state.scanned) >= 2
    raw = client("dynamodb").get_item(
        TableName=table, Key=to_dynamo({"pk": "MIGRATION", "sk": "0002"})
    )
    assert from_dynamo(raw["Item"])["type"] == "DataMigration"


def test_a_second_run_is_a_no_op(table: str, dynamodb: Any) -> None:
    seeded(table, users=5)
    run_migration(m0002, table=table, dynamodb=dynamodb, now=lambda: T1)
    before = all_items(table)

    with counting(dynamodb) as calls:
        again = run_migration(m0002, table=table, dynamodb=dynamodb, now=lambda: T2)

    assert again.outcome == ALREADY_APPLIED
    assert calls.counts == {"DescribeTable": 1, "GetItem": 1}
    assert all_items(table) == before
    # Even forced over the table again (as a new record would), nothing changes.
    client("dynamodb").delete_item(
        TableName=table, Key=to_dynamo({"pk": "MIGRATION", "sk": "0002"})
    )
    with counting(dynamodb) as calls:
        forced = run_migration(m0002, table=table, dynamodb=dynamodb, now=lambda: T2)
    assert forced.outcome == APPLIED
    assert forced.progress.changed == 0
    assert calls.counts["UpdateItem"] == calls.counts["Scan"] + 1  # checkpoints, finish
    assert data_items(table) == {k: v for k, v in before.items() if k[0] != RECORD_PK}


def test_dry_run_counts_and_writes_nothing(table: str, dynamodb: Any) -> None:
    counts = seeded(table, users=6)
    before = all_items(table)

    with counting(dynamodb) as calls:
        result = run_migration(m0002, table=table, dynamodb=dynamodb, dry_run=True, page_size=7)

    assert result.outcome == DRY_RUN
    assert (result.progress.scanned, result.progress.changed) == (
        counts["total"],
        counts["pending"],
    )
    assert set(calls.counts) == {"DescribeTable", "GetItem", "Scan"}
    assert all_items(table) == before
    assert record(table) is None


@pytest.mark.parametrize(
    ("operation", "fail_at"),
    [
        ("Scan", 5),  # between pages
        ("UpdateItem", 40),  # in the middle of a page
    ],
)
def test_an_interrupted_run_resumes_from_its_checkpoint(
    table: str, dynamodb: Any, operation: str, fail_at: int
) -> None:
    counts = seeded(table)
    before = data_items(table)
    calls = {"n": 0}
    lock = threading.Lock()

    def fail(params: dict[str, Any], **kwargs: Any) -> None:
        if operation == "UpdateItem" and params["Key"]["pk"]["S"] == "MIGRATION":
            return  # let checkpoints through: only item writes fail
        with lock:
            calls["n"] += 1
            if calls["n"] == fail_at:
                raise RuntimeError("injected failure")

    with (
        hook(dynamodb, f"before-parameter-build.dynamodb.{operation}", fail),
        pytest.raises(RuntimeError, match="injected failure"),
    ):
        run_migration(
            m0002, table=table, segments=4, page_size=10, dynamodb=dynamodb, now=lambda: T1
        )

    halfway = record(table)
    assert halfway is not None
    assert not halfway.applied
    assert 0 < halfway.changed < counts["pending"]
    first = {
        key
        for key, item in data_items(table).items()
        if item.get("migrated_at") == STAMP.serialize(T1)
    }
    assert len(first) == halfway.changed  # the checkpoint counted exactly what was written

    result = run_migration(
        m0002, table=table, segments=2, page_size=10, dynamodb=dynamodb, now=lambda: T2
    )

    assert result.outcome == APPLIED
    assert result.resumed
    assert result.progress.total_segments == 4  # the checkpoint's split, not the new request
    assert (result.progress.scanned, result.progress.changed) == (
        counts["total"],
        counts["pending"],
    )
    after = data_items(table)
    for key, old in before.items():
        new = after[key]
        if not m0002.applies_to(old):
            assert new == old
            continue
        # Migrated exactly once: one version bump, and the first run's
        # timestamp kept on what it had done.
        assert new["version"] == old.get("version", 0) + 1, key
        assert new["migrated_at"] == STAMP.serialize(T1 if key in first else T2), key
    assert record(table).applied  # type: ignore[union-attr]


def rate_counters(table: str) -> int:
    """The per-user request counters the API's calls left in ``table``
    (lifestyle/ratelimit.py): entity items too, so the migration counts them."""
    return sum(1 for pk, _ in data_items(table) if pk.startswith(RATE_PREFIX))


def test_a_concurrent_api_update_is_not_overwritten(table: str, dynamodb: Any, user: User) -> None:
    api = user.client()
    with api_on(table):
        created = api.post(
            "/api/v1/goals",
            {"title": "Read 20 books", "kind": "count", "target": "20", "unit": "books"},
            format="json",
        )
        assert created.status_code == 201, created.content
        goal = created.json()
        done = {"patched": False}

        def user_edits_first(params: dict[str, Any], **kwargs: Any) -> None:
            # Between our Scan and our write, the user renames the goal.
            if params["Key"]["pk"]["S"].startswith("USER#") and not done["patched"]:
                done["patched"] = True
                patched = api.patch(
                    f"/api/v1/goals/{goal['id']}",
                    {"title": "Read 25 books"},
                    format="json",
                    headers={"If-Match": '"1"'},
                )
                assert patched.status_code == 200, patched.content

        with hook(dynamodb, "before-parameter-build.dynamodb.UpdateItem", user_edits_first):
            result = run_migration(m0002, table=table, dynamodb=dynamodb, now=lambda: T1)

        assert done["patched"]
        assert result.progress.conflicts == 1
        assert result.progress.changed == 1 + rate_counters(table)
        stored = data_items(table)[(f"USER#{user.user_id}", f"GOAL#{goal['id']}")]
        assert stored["title"] == "Read 25 books"  # the user's change stands ...
        assert stored["schema_version"] == 2  # ... and the migration applied on top
        assert stored["version"] == 3
        read = api.get(f"/api/v1/goals/{goal['id']}")
        assert read.json()["title"] == "Read 25 books"
        assert read["ETag"] == '"3"'


def test_an_item_deleted_before_its_write_is_not_recreated(table: str, dynamodb: Any) -> None:
    put_items(table, [v1_goal("u1", 1), v1_goal("u1", 2)])

    def delete_first(params: dict[str, Any], **kwargs: Any) -> None:
        if params["Key"]["sk"]["S"].endswith("1"):
            client("dynamodb").delete_item(TableName=table, Key=params["Key"])

    with hook(dynamodb, "before-parameter-build.dynamodb.UpdateItem", delete_first):
        result = run_migration(m0002, table=table, dynamodb=dynamodb, now=lambda: T1)

    assert (result.progress.changed, result.progress.conflicts) == (1, 1)
    assert [key[1][-1] for key in data_items(table)] == ["2"]


def test_throttled_writes_are_retried_with_backoff(table: str, dynamodb: Any) -> None:
    from botocore.awsrequest import AWSResponse

    put_items(table, [v1_goal("u1", n) for n in range(3)])
    throttles = {"left": settings.AWS_MAX_ATTEMPTS + 1}  # more than botocore retries alone

    class Body:
        def stream(self) -> Iterator[bytes]:
            yield json.dumps(
                {
                    "__type": "com.amazonaws.dynamodb.v20120810#"
                    "ProvisionedThroughputExceededException",
                    "message": "The level of configured provisioned throughput was exceeded.",
                }
            ).encode()

    def throttle(request: Any, **kwargs: Any) -> AWSResponse | None:
        if throttles["left"] and b'"USER#' in request.body:
            throttles["left"] -= 1
            return AWSResponse(request.url, 400, {}, Body())
        return None

    with hook(dynamodb, "before-send.dynamodb.UpdateItem", throttle):
        result = run_migration(
            m0002, table=table, dynamodb=dynamodb, now=lambda: T1, backoff_seconds=0.01
        )

    assert throttles["left"] == 0
    assert result.outcome == APPLIED
    assert result.progress.changed == 3
    assert result.progress.throttled == 1  # botocore gave up once; the runner waited and went on
    assert all(item["schema_version"] == 2 for item in data_items(table).values())


def test_max_seconds_pauses_at_a_page_boundary_and_a_rerun_goes_on(
    table: str, dynamodb: Any
) -> None:
    counts = seeded(table, users=8)
    paused = run_migration(m0002, table=table, dynamodb=dynamodb, page_size=5, max_seconds=0.000001)
    assert paused.outcome == PAUSED
    halfway = record(table)
    assert halfway is not None
    assert not halfway.applied
    done = run_migration(m0002, table=table, dynamodb=dynamodb, page_size=5)
    assert done.outcome == APPLIED
    assert (done.progress.scanned, done.progress.changed) == (counts["total"], counts["pending"])


def test_a_newer_run_takes_over_and_the_older_stops(table: str, dynamodb: Any) -> None:
    seeded(table, users=4)
    store = RecordStore(Table(table))

    def newer_run_starts(params: dict[str, Any], **kwargs: Any) -> None:
        if params["Key"]["pk"]["S"] == "MIGRATION" and "segments" in str(
            params.get("UpdateExpression")
        ):
            store.take_over(2, run_id="newer", now="2026-11-28T00:00:00Z")

    with (
        hook(dynamodb, "before-parameter-build.dynamodb.UpdateItem", newer_run_starts),
        pytest.raises(Exception, match="took over; this one stopped"),
    ):
        run_migration(m0002, table=table, dynamodb=dynamodb, segments=1, page_size=5)
    assert record(table).run_id == "newer"  # type: ignore[union-attr]


def test_a_migration_may_not_touch_the_key_or_the_version(table: str, dynamodb: Any) -> None:
    put_items(table, [v1_goal("u1", 1)])
    rogue = DataMigration(2, "rogue", lambda item: True, lambda item, now: {**item, "version": 99})
    with pytest.raises(MigrationError, match="neither the key nor the version"):
        run_migration(rogue, table=table, dynamodb=dynamodb)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"segments": 0}, "segments"),
        ({"segments": 33}, "segments"),
        ({"page_size": 0}, "page_size"),
        ({"rate": 0}, "rate"),
    ],
)
def test_runner_refuses_bad_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_migration(m0002, table="unused", **options)


def test_the_lambda_policy_allows_every_request_a_migration_makes(
    table: str, dynamodb: Any
) -> None:
    """``zappa manage prod "migrate_data --yes"`` runs with the function's
    role: every DynamoDB action a run, a resume and a listing make must be
    granted on the stage's table."""
    from lifestyle.iam_policy import is_allowed, render_policy, target_for_stage

    seeded(table, users=3)
    with counting(dynamodb) as calls:
        run_migration(m0002, table=table, dynamodb=dynamodb, page_size=5, max_seconds=0.000001)
        run_migration(m0002, table=table, dynamodb=dynamodb, page_size=5)
        RecordStore(Table(table, dynamodb)).load_all()
    assert {"Scan", "UpdateItem", "PutItem", "GetItem", "Query", "DescribeTable"} <= set(
        calls.counts
    )
    policy = render_policy(
        target_for_stage("prod", account_id="123456789012", user_pool_id="us-east-1_Example1")
    )
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/ai-lifestyle-app-goals-prod"
    for operation in calls.counts:
        assert is_allowed(policy, f"dynamodb:{operation}", arn), operation


# --- version-1 items through the API -----------------------------------------------


def test_version_1_items_read_fine_through_the_api_before_and_after(
    table: str, dynamodb: Any, user: User
) -> None:
    pk = f"USER#{user.user_id}"
    goal = v1_goal(user.user_id, 7, kind="amount", target=Decimal(100), unit="km", period="none")
    activity_id = str(uuid.UUID(int=8))
    occurred = "2026-03-01T07:30:00.000000+0000"
    activity = {
        "pk": pk,
        "sk": f"ACTIVITY#{activity_id}",
        "type": "Activity",
        "activity_id": activity_id,
        "user_id": user.user_id,
        "goal_id": goal["goal_id"],
        "value": Decimal("12.5"),
        "occurred_at": occurred,
        "local_date": "2026-03-01",
        "period_key": "all",
        "note": "Morning run",
        "goal_time": f"{goal['goal_id']}#2026-03-01T07:30:00.000000Z#{activity_id}",
        "time_key": f"2026-03-01T07:30:00.000000Z#{activity_id}",
        "version": 1,
    }
    progress = {
        "pk": pk,
        "sk": f"PROGRESS#{goal['goal_id']}",
        "type": "GoalProgress",
        "goal_id": goal["goal_id"],
        "total": Decimal("12.5"),
        "activity_count": 1,
        "last_activity_at": occurred,
        "met_runs": "[]",
        "version": 1,
    }
    put_items(table, [goal, activity, progress])
    api: APIClient = user.client()
    url = f"/api/v1/goals/{goal['goal_id']}"

    def read_everything() -> dict[str, Any]:
        got = api.get(url)
        assert got.status_code == 200, got.content
        listed = api.get("/api/v1/goals")
        assert listed.status_code == 200, listed.content
        assert [g["id"] for g in listed.json()["items"]] == [goal["goal_id"]]
        activities = api.get(f"{url}/activities")
        assert activities.status_code == 200, activities.content
        assert [a["value"] for a in activities.json()["items"]] == ["12.5"]
        progress_response = api.get(f"{url}/progress")
        assert progress_response.status_code == 200, progress_response.content
        body = got.json()
        assert body["title"] == "Goal 7"
        assert body["target"] == "100"
        assert isinstance(body["created_at"], str)
        assert progress_response.json()["total"] == "12.5"
        assert progress_response.json()["activity_count"] == 1
        return {"goal": body, "etag": got["ETag"]}

    with api_on(table):
        before = read_everything()
        assert before["etag"] == '"1"'
        result = run_migration(m0002, table=table, dynamodb=dynamodb, now=lambda: T1)
        assert result.progress.changed == 3 + rate_counters(table)
        after = read_everything()
        assert after["etag"] == '"2"'
        # The API keeps working on migrated items: the activity write rewrites
        # the progress item whole, and keeps the migration's attributes.
        logged = api.post(
            f"{url}/activities",
            {"value": "7.5", "occurred_at": "2026-03-02T07:30:00Z"},
            format="json",
        )
        assert logged.status_code == 201, logged.content
        assert api.get(f"{url}/progress").json()["total"] == "20"
        stored = data_items(table)[(pk, progress["sk"])]
        assert stored["schema_version"] == 2
        assert stored["migrated_at"] == STAMP.serialize(T1)


# --- the command ---------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def command(*args: str, **options: Any) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("migrate_data", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def test_command_list_dry_run_apply_and_list_again(table: str) -> None:
    counts = seeded(table, users=4)

    out, _ = command("--list", table=table)
    assert f"Data migrations on table {table}:" in out
    assert "0002  Items get schema_version 2" in out
    assert "pending" in out

    out, err = command("--dry-run", table=table)
    assert f"0002 dry run: {counts['total']} items scanned, {counts['pending']} would change" in out
    assert "0002:" in err  # progress
    assert record(table) is None

    out, err = command("--yes", "--segments", "3", table=table)
    assert f"0002 applied: {counts['total']} items scanned, {counts['pending']} changed" in out
    assert "items/s" in err

    out, _ = command("--list", table=table)
    assert "applied 2" in out
    assert f"{counts['pending']} of {counts['total']} items changed" in out
    assert command(table=table)[0] == f"No pending data migrations for {table}.\n"
    assert "0002 is already applied" in command("0002", table=table)[0]


def test_command_lists_an_interrupted_migration_and_resumes_it(table: str) -> None:
    seeded(table, users=4)
    run_migration(m0002, table=table, page_size=5, max_seconds=0.000001)
    out, _ = command("--list", table=table)
    assert "in progress (resumable)" in out
    out, _ = command("2", "--yes", "--segments", "2", table=table)
    assert "resuming the run started" in out
    assert "it keeps its 4 segments" in out
    assert "0002 applied (resumed)" in out


def test_command_asks_before_writing(table: str) -> None:
    seeded(table, users=2)
    with pytest.raises(CommandError, match="Cancelled: nothing was done"):
        command(table=table, stdin=Terminal("n\n"))
    assert record(table) is None
    out, err = command(table=table, stdin=Terminal("y\n"))
    assert "Apply 2 data migration(s)" in err
    assert "0002 applied" in out
    assert "0003 applied" in out


def test_command_refuses_to_prompt_without_a_terminal(table: str) -> None:
    seeded(table, users=2)
    with pytest.raises(CommandError, match=r"stdin is not a terminal.*--yes"):
        command(table=table, stdin=io.StringIO("y\n"))
    assert record(table) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["0009"], r"There is no data migration 0009 \(known: 0002, 0003\)"),
        (["abc"], "'abc' is not a migration number"),
        (["--segments", "0"], "--segments must be between 1 and 32 .got 0."),
        (["--segments", "1000"], "--segments must be between 1 and 32 .got 1000."),
        (["--segments", "many"], "invalid int value"),
        (["--rate", "0"], "--rate must be more than 0"),
        (["--rate", "-5"], "--rate must be more than 0"),
        (["--max-seconds", "0"], "--max-seconds must be more than 0"),
        (["--list", "0002"], "give no number with it"),
        (["--table", "no-such-table"], "Table no-such-table does not exist"),
    ],
)
def test_command_bad_arguments(table: str, args: list[str], message: str) -> None:
    if "--table" not in args:
        args = [*args, "--table", table]
    with pytest.raises(CommandError, match=message):
        command(*args)


def test_command_line_exits_non_zero_with_the_message() -> None:
    done = manage_py("migrate_data", "--segments", "0")
    assert done.returncode == 1
    assert "--segments must be between 1 and 32 (got 0)." in done.stderr
