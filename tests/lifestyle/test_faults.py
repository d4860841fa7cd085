"""Faults: AWS failing part of the time, and work killed between its steps.

**Throttling and 5xx on a share of calls.** A ``before-send`` handler on the
product's real botocore clients (DynamoDB and S3) answers a seeded-random
30% of attempts with the response AWS sends when throttling or failing
(``ThrottlingException``, ``ProvisionedThroughputExceededException``,
``InternalServerError`` 500, a transaction cancelled for throttling; S3
``SlowDown`` 503 and ``InternalError`` 500); every other attempt reaches the
session's moto server. botocore retries what it retries, the API answers
503 with ``Retry-After`` past that, and the scripted client retries those
as the README tells mobile clients to (the same request, the same ids;
for a batch, only the items answered 503). Afterwards every acknowledged
write is stored as acknowledged, nothing is counted twice, and
``check_consistency`` finds nothing. The handler answers *before* the
request is sent, so a failed attempt never ran. A response lost *after*
DynamoDB ran a request is not simulated: DynamoDB answers a retried
TransactWriteItems with the same ``ClientRequestToken`` (botocore fills
one in and keeps it across its retries) as the first time, without running
it again, and moto does not implement that, so such a test would fail on
the stand-in, not on the product.

**Killed between steps.** A data migration stopped by an exception in the
middle of a page, with API writes before it resumes; an export killed
after its zip was uploaded but before it was marked ready. Account
deletion's crashes are tested where it lives: tests/accounts/test_deletion.py
(``test_a_step_that_fails_loses_nothing_and_resuming_completes_it``,
``test_a_killed_run_keeps_its_lease_until_it_expires``,
``test_deletes_dynamodb_never_takes_are_a_failure_then_resumed``); an export
that fails mid-upload or dies before uploading, in tests/accounts/test_export.py.
"""

from __future__ import annotations

import io
import json
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from botocore.awsrequest import AWSResponse
from django.conf import settings
from django.core.files.storage import storages
from django.core.management import call_command
from django.test.utils import override_settings
from rest_framework.test import APIClient

import ops_admin.revocations
from activities import consistency
from activities.services import activity_log
from goals.services import goal_create
from lifestyle import dynamo
from lifestyle.aws import botocore_config, client
from lifestyle.data_migrations.m0002_schema_version_2 import migration as m0002
from lifestyle.data_migrations.records import Table
from lifestyle.data_migrations.runner import APPLIED, run_migration
from lifestyle.provisioning import ensure_table
from tests.activities.test_attachments import PNG, upload
from tests.conftest import User
from tests.lifestyle.test_data_migrations import api_on, record
from tests.lifestyle.test_throttling import (
    DYNAMO_JSON,
    PROVISIONED,
    THROTTLING,
    Answer,
    Throttle,
    cancelled_by_throttling,
    dynamodb_clients,
    fresh_clients,  # noqa: F401 (fixture: new clients, and hooks, per test)
    no_backoff,  # noqa: F401 (fixture: botocore's retries do not sleep)
)

SHARE = 0.3
NO_LIMITS = {"read": (100_000, 60), "write": (100_000, 60), "export": (100, 3600)}
CLIENT_RETRIES = 12
NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.date()

DYNAMO_INTERNAL = (
    500,
    DYNAMO_JSON,
    json.dumps(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
            "message": "Internal server error",
        }
    ).encode(),
)


def s3_error(status: int, code: str, message: str) -> Callable[[Any], Answer]:
    """S3's XML error, without a body for a HEAD (as S3 sends it)."""

    def answer(request: Any) -> Answer:
        if request.method == "HEAD":
            return status, {"Content-Type": "application/xml"}, b""
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        return status, {"Content-Type": "application/xml"}, body.encode()

    return answer


S3_SLOW_DOWN = s3_error(503, "SlowDown", "Please reduce your request rate.")
S3_INTERNAL = s3_error(500, "InternalError", "We encountered an internal error.")


class Faults(Throttle):
    """A ``before-send`` handler answering a seeded-random ``share`` of the
    attempts it sees with one of ``answers`` (chosen at random too; a
    cancelled transaction only for TransactWriteItems), and letting the
    rest through to moto. Counts attempts seen and errors injected by
    ``service.Operation``."""

    def __init__(self, seed: int, share: float, answers: list[Any]) -> None:
        super().__init__(set(), self._pick)
        self.rng = random.Random(seed)
        self.share = share
        self.answers = answers
        self.seen: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self.on = True
        self._lock = threading.Lock()

    def _pick(self, request: Any) -> Answer:
        (operation,) = self.operations
        choices = [
            answer
            for answer in self.answers
            if answer is not cancelled_by_throttling or operation == "TransactWriteItems"
        ]
        answer = self.rng.choice(choices)
        return answer(request) if callable(answer) else answer

    def __call__(self, request: Any, event_name: str, **kwargs: Any) -> AWSResponse | None:
        with self._lock:  # one random sequence, whatever thread sends
            if not self.on:
                return None
            _, service, operation = event_name.split(".", 2)
            self.seen[f"{service}.{operation}"] += 1
            if self.rng.random() >= self.share:
                return None
            self.injected[f"{service}.{operation}"] += 1
            self.operations = {operation}
            return super().__call__(request, event_name, **kwargs)

    def total(self, service: str) -> int:
        return sum(n for name, n in self.injected.items() if name.startswith(f"{service}."))


@contextmanager
def faulty_aws(seed: int = 7) -> Iterator[tuple[Faults, Faults]]:
    """30% of the product's DynamoDB and S3 attempts fail, from now until
    the block ends. The revoked sign-ins list is read once first and kept,
    as in test_throttling, so its reads do not depend on the clock."""
    dynamodb = Faults(
        seed, SHARE, [THROTTLING, PROVISIONED, DYNAMO_INTERNAL, cancelled_by_throttling]
    )
    s3 = Faults(seed + 1, SHARE, [S3_SLOW_DOWN, S3_INTERNAL])
    with override_settings(REVOCATION_CACHE_SECONDS=3600, RATE_LIMITS=NO_LIMITS):
        ops_admin.revocations.cache.clear()
        ops_admin.revocations.cache.entries()
        hooked = [(c, "before-send.dynamodb", dynamodb) for c in dynamodb_clients()]
        s3_clients = {id(c): c for c in (storages["default"].connection.meta.client, client("s3"))}
        hooked += [(c, "before-send.s3", s3) for c in s3_clients.values()]
        for botocore_client, event, handler in hooked:
            botocore_client.meta.events.register_first(event, handler)
        try:
            yield dynamodb, s3
        finally:
            dynamodb.on = s3.on = False
            for botocore_client, event, handler in hooked:
                botocore_client.meta.events.unregister(event, handler)
            ops_admin.revocations.cache.clear()


class Device:
    """A client that does what the README asks: retries a 503 after its
    ``Retry-After`` (scaled down here: the test does not need to wait)."""

    def __init__(self, api: APIClient) -> None:
        self.api = api
        self.busy = 0

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        send = getattr(self.api, method.lower())
        for _ in range(CLIENT_RETRIES):
            response = (
                send(path, body, format="json", **headers)
                if body is not None
                else send(path, **headers)
            )
            if response.status_code != 503:
                return response
            assert int(response["Retry-After"]) >= 1
            self.busy += 1
        raise AssertionError(f"{method} {path} still 503 after {CLIENT_RETRIES} tries")


def expect(response: Any, *statuses: int) -> Any:
    assert response.status_code in statuses, (response.status_code, response.content)
    return response


class Ledger:
    """What the device was told: activities as acknowledged, and deletes."""

    def __init__(self) -> None:
        self.live: dict[str, dict[str, Any]] = {}
        self.deleted: set[str] = set()

    def acknowledged(self, response: Any) -> dict[str, Any]:
        activity = dict(response.json())
        self.live[activity["id"]] = {**activity, "etag": response["ETag"]}
        return activity


# --- the workload --------------------------------------------------------------------------


def run_workload(device: Device, told: Ledger) -> dict[str, str]:
    """Goals, logs, idempotent replays, edits across periods, deletes, a
    batch (with its 503 items resent, then all of it resent), attachments."""
    goals = {
        "daily": create_goal(device, kind="count", target="3", period="daily",
                             timezone="America/Sao_Paulo"),
        "weekly": create_goal(device, kind="amount", target="20", period="weekly",
                              week_start="saturday", timezone="Asia/Tokyo"),
    }  # fmt: skip
    rng = random.Random(3)
    bodies = []
    for n in range(24):
        goal_id = goals["daily" if n % 2 else "weekly"]
        when = NOW - timedelta(days=rng.randrange(0, 20), hours=n)
        body = {"id": str(uuid.uuid4()), "value": rng.randrange(1, 4) if n % 2 else "2.5",
                "occurred_at": when.isoformat()}  # fmt: skip
        response = expect(device.call("POST", f"/api/v1/goals/{goal_id}/activities", body), 201)
        told.acknowledged(response)
        bodies.append((goal_id, body))
    for goal_id, body in bodies[:5]:  # a retry after a lost answer: counted once
        replay = expect(device.call("POST", f"/api/v1/goals/{goal_id}/activities", body), 201)
        assert replay["Idempotent-Replayed"] == "true"

    ids = sorted(told.live)
    for activity_id in ids[:8]:
        changes: dict[str, Any] = {
            "occurred_at": (NOW - timedelta(days=rng.randrange(0, 20))).isoformat()
        }
        if told.live[activity_id]["goal_id"] == goals["daily"]:
            changes["value"] = rng.randrange(1, 6)
        response = device.call("PATCH", f"/api/v1/activities/{activity_id}", changes,
                               HTTP_IF_MATCH=told.live[activity_id]["etag"])  # fmt: skip
        told.acknowledged(expect(response, 200))
    for activity_id in ids[8:13]:
        expect(device.call("DELETE", f"/api/v1/activities/{activity_id}"), 204)
        del told.live[activity_id]
        told.deleted.add(activity_id)

    batch_items = [
        {"id": str(uuid.uuid4()), "goal_id": goals["daily" if n % 3 else "weekly"],
         "value": 1 if n % 3 else "1.75",
         "occurred_at": (NOW - timedelta(days=n % 9, minutes=7 * n)).isoformat()}
        for n in range(20)
    ]  # fmt: skip
    assert send_batch(device, told, batch_items)["created"] == 20
    assert send_batch(device, told, batch_items) == {"duplicate": 20}  # resent whole: no doubles

    with_files = sorted(told.live)[:3]
    for activity_id in with_files:
        attach(device, told, activity_id)
    gone = with_files[0]  # an activity with a file, deleted under faults too
    expect(device.call("DELETE", f"/api/v1/activities/{gone}"), 204)
    del told.live[gone]
    told.deleted.add(gone)
    return goals


def create_goal(device: Device, **fields: Any) -> str:
    goal_id = str(uuid.uuid4())
    body = {"id": goal_id, "title": "Goal", "start_date": (TODAY - timedelta(days=40)).isoformat(),
            **fields}  # fmt: skip
    expect(device.call("POST", "/api/v1/goals", body), 201)
    return goal_id


def send_batch(device: Device, told: Ledger, items: list[dict[str, Any]]) -> Counter[str]:
    """The README's rule: drop or fix the 4xx items, resend the 503 ones.
    How many items ended created and duplicate."""
    pending = list(items)
    outcomes: Counter[str] = Counter()
    for _ in range(CLIENT_RETRIES):
        response = expect(
            device.call("POST", "/api/v1/activities:batch", {"activities": pending}), 200
        )
        retry = []
        for result in response.json()["results"]:
            if result["status_code"] == 503:
                retry.append(pending[result["index"]])
                continue
            assert result["status"] in ("created", "duplicate"), result
            outcomes[result["status"]] += 1
            activity = result["activity"]
            told.live[activity["id"]] = {**activity, "etag": f'"{activity["version"]}"'}
        if not retry:
            return outcomes
        device.busy += 1
        pending = retry
    raise AssertionError("batch items still 503")


def attach(device: Device, told: Ledger, activity_id: str) -> None:
    """Start, upload, confirm; then read the activity, whose version the
    attachment moved."""
    path = f"/api/v1/activities/{activity_id}/attachments"
    started = expect(
        device.call("POST", path, {"content_type": "image/png", "size": len(PNG)}), 201
    )
    upload(started.json())  # straight to S3, as the phone does
    confirmed = expect(device.call("POST", f"{path}/{started.json()['id']}/confirm"), 200)
    assert confirmed.json()["status"] == "ready"
    told.acknowledged(expect(device.call("GET", f"/api/v1/activities/{activity_id}"), 200))


# --- checks afterwards ------------------------------------------------------------------------


def listed(api: APIClient, goal_id: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        query = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = expect(api.get(f"/api/v1/goals/{goal_id}/activities", query), 200).json()
        found.update({item["id"]: item for item in page["items"]})
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def assert_told_is_stored(api: APIClient, told: Ledger, goals: dict[str, str]) -> None:
    stored = {
        key: value for goal_id in goals.values() for key, value in listed(api, goal_id).items()
    }
    assert set(stored) == set(told.live)  # nothing lost, nothing extra (no doubles)
    for activity_id, activity in told.live.items():
        for name in ("goal_id", "value", "occurred_at", "version", "local_date"):
            assert stored[activity_id][name] == activity[name], (activity_id, name)
    for activity_id in told.deleted:
        expect(api.get(f"/api/v1/activities/{activity_id}"), 404)
    for goal_id in goals.values():
        progress = expect(api.get(f"/api/v1/goals/{goal_id}/progress"), 200).json()
        mine = [a for a in told.live.values() if a["goal_id"] == goal_id]
        assert Decimal(progress["total"]) == sum(Decimal(a["value"]) for a in mine)
        assert progress["activity_count"] == len(mine)


def assert_consistent(user_id: str) -> None:
    out = io.StringIO()
    call_command("check_consistency", "--user", user_id, stdout=out, stderr=io.StringIO())
    assert out.getvalue().endswith("Consistent.\n"), out.getvalue()


# --- the tests --------------------------------------------------------------------------------


def test_a_workload_under_throttling_and_5xx_loses_nothing_and_doubles_nothing(
    user: User,
) -> None:
    device, told = Device(user.client()), Ledger()

    with faulty_aws() as (dynamodb_faults, s3_faults):
        goals = run_workload(device, told)

    assert dynamodb_faults.total("dynamodb") >= 50
    assert dynamodb_faults.injected["dynamodb.TransactWriteItems"] > 0
    assert s3_faults.total("s3") > 0
    assert device.busy > 0  # some requests failed past botocore's retries and were resent
    api = user.client()
    assert_told_is_stored(api, told, goals)
    ready = [
        activity_id
        for activity_id in told.live
        for item in expect(api.get(f"/api/v1/activities/{activity_id}/attachments"), 200).json()[
            "items"
        ]
        if item["status"] == "ready"
    ]
    assert len(ready) == 2  # three confirmed, one deleted with its activity
    assert_consistent(user.user_id)


# --- a data migration killed mid-page -----------------------------------------------------------


@pytest.fixture
def scratch_table() -> Iterator[str]:
    name = f"faults-test-{uuid.uuid4().hex[:8]}"
    ensure_table(name, lambda line: None)
    with api_on(name):
        yield name
    client("dynamodb").delete_table(TableName=name)


def seed_users(users: int = 3) -> list[tuple[str, str]]:
    """Goals with activities (so progress items and buckets) for a few users."""
    made = []
    for u in range(users):
        user_id = str(uuid.uuid4())
        for period in ("daily", "none"):
            goal, _ = goal_create(
                user_id=user_id, title="G", kind="count", target=Decimal(2), period=period,
                start_date=TODAY - timedelta(days=20), timezone="Europe/Paris",
                week_start="monday", day_start_hour=0,
            )  # fmt: skip
            for days in range(4 + u):
                when = NOW - timedelta(days=days % 3, hours=days)
                activity_log(
                    user_id=user_id, goal_id=goal.goal_id, occurred_at=when, value=days + 1
                )
            made.append((user_id, goal.goal_id))
    return made


def test_a_migration_killed_mid_page_resumes_and_the_aggregates_stay_exact(
    scratch_table: str,
) -> None:
    import boto3

    goals = seed_users()
    runner = boto3.session.Session().client(
        "dynamodb", endpoint_url=settings.AWS_ENDPOINT_URL, config=botocore_config()
    )
    writes = {"n": 0}

    def kill(params: dict[str, Any], **_: Any) -> None:
        if params["Key"]["pk"]["S"] == "MIGRATION":
            return  # checkpoints go through: the kill is in the middle of a page
        writes["n"] += 1
        if writes["n"] == 9:
            raise RuntimeError("killed")

    runner.meta.events.register("before-parameter-build.dynamodb.UpdateItem", kill)
    with pytest.raises(RuntimeError, match="killed"):
        run_migration(m0002, table=scratch_table, segments=2, page_size=7, dynamodb=runner)
    runner.meta.events.unregister("before-parameter-build.dynamodb.UpdateItem", kill)
    halfway = record(scratch_table)
    assert halfway is not None
    assert not halfway.applied
    assert halfway.changed > 0

    # Users keep writing while the migration is stopped, and after.
    for user_id, goal_id in goals[:3]:
        activity_log(user_id=user_id, goal_id=goal_id, occurred_at=NOW, value=5)
    assert consistency.check_table(segments=2).findings == []

    result = run_migration(m0002, table=scratch_table, segments=2, page_size=7, dynamodb=runner)

    assert (result.outcome, result.resumed) == (APPLIED, True)
    for user_id, goal_id in goals:
        activity_log(
            user_id=user_id, goal_id=goal_id, occurred_at=NOW - timedelta(hours=1), value=1
        )
    report = consistency.check_table(segments=3, table=Table(scratch_table))
    assert (report.goals, report.findings, report.busy) == (len(goals), [], [])


# --- an export killed between upload and ready ---------------------------------------------------


class LambdaDied(BaseException):
    """What a timeout does to a run: it stops where it is, nothing recorded."""


def test_an_export_killed_after_its_upload_never_offers_the_file(
    api: APIClient, user: User
) -> None:
    from accounts import exports

    goal_id = create_goal(Device(api), kind="habit", period="daily", timezone="UTC")
    expect(api.post(f"/api/v1/goals/{goal_id}/activities", {"occurred_at": NOW.isoformat()},
                    format="json"), 201)  # fmt: skip
    job_writes: list[str] = []

    def die_when_marking_ready(params: dict[str, Any], **_: Any) -> None:
        if params["Key"]["sk"]["S"].startswith("EXPORT#"):
            job_writes.append(params["Key"]["sk"]["S"])
            if len(job_writes) == 2:  # the claim went through; this is "ready"
                raise LambdaDied()

    dynamo.TableItem._get_connection()  # the shared botocore client exists
    events = dynamo._client.meta.events
    events.register("before-parameter-build.dynamodb.UpdateItem", die_when_marking_ready)
    try:
        with pytest.raises(LambdaDied):
            api.post("/api/v1/me/export")
    finally:
        events.unregister("before-parameter-build.dynamodb.UpdateItem", die_when_marking_ready)
    export_id = job_writes[0].removeprefix("EXPORT#")
    uploaded = client("s3").list_objects_v2(
        Bucket=settings.AWS_STORAGE_BUCKET_NAME, Prefix=f"exports/{user.user_id}/"
    )
    assert [o["Key"] for o in uploaded.get("Contents", [])] == [
        f"exports/{user.user_id}/{export_id}.zip"
    ]  # the whole zip got there before the run died

    running = expect(api.get(f"/api/v1/me/exports/{export_id}"), 200).json()
    assert (running["status"], running["download_url"]) == ("running", None)
    later = datetime.now(UTC) + exports.RUNNING_STALE + timedelta(seconds=1)
    with mock.patch("accounts.exports.utcnow", return_value=later):
        dead = expect(api.get(f"/api/v1/me/exports/{export_id}"), 200).json()
        assert (dead["status"], dead["error"], dead["download_url"]) == (
            "failed",
            "timed_out",
            None,
        )
        # A run invoked again for it does nothing: it is no longer pending.
        assert exports.export_run(user_id=user.user_id, export_id=export_id) == "skipped"
    assert_consistent(user.user_id)


def test_the_fault_handler_injects_the_share_it_is_given() -> None:
    """The injector itself: about 30% of attempts fail, each with an AWS
    error botocore retries; every call still ends in an answer."""
    faults = Faults(1, SHARE, [THROTTLING, DYNAMO_INTERNAL])
    dynamodb = client("dynamodb")
    dynamodb.meta.events.register_first("before-send.dynamodb", faults)
    outcomes: Counter[str] = Counter()
    try:
        for _ in range(200):
            try:
                dynamodb.list_tables(Limit=1)
                outcomes["ok"] += 1
            except dynamodb.exceptions.ClientError as error:
                outcomes[error.response["Error"]["Code"]] += 1
    finally:
        dynamodb.meta.events.unregister("before-send.dynamodb", faults)
    share = faults.injected["dynamodb.ListTables"] / faults.seen["dynamodb.ListTables"]
    assert 0.2 < share < 0.4
    assert outcomes["ok"] > 180  # botocore's retries absorb nearly all of them
    assert set(outcomes) <= {"ok", "ThrottlingException", "InternalServerError"}
