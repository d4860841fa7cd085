"""Account deletion (accounts/deletion.py, ``DELETE /api/v1/me``,
``manage.py account_deletions``, the Zappa schedule) against the session's
moto server: a user with a profile, goals, activities, attachment files
(old versions and delete markers too), exports and items of kinds this code
has never heard of, next to another user with data of their own.

``clock`` moves the deletion module's wall clock by hand (the lease and the
wait for late writes), and each test starts with the revocation list unread,
so no test sleeps.
"""

from __future__ import annotations

import io
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test.utils import override_settings
from django.urls import clear_script_prefix
from rest_framework.test import APIClient

from accounts import deletion
from lifestyle.aws import client
from lifestyle.dynamo import user_pk
from lifestyle.iam_policy import PolicyTarget, is_allowed, render_policy
from ops_admin import audit, revocations
from tests.activities.test_attachments import confirm, start, upload
from tests.conftest import User, assert_error, make_user
from tests.lambda_handler.conftest import (
    ACCOUNT,
    REGION,
    dev_stage,
    forget_handler,
    invoke,
    settings_module,  # noqa: F401 (a fixture)
)
from tests.ops.conftest import console_for
from tests.test_deploy_config import (  # the IAM coverage check's recorder
    Call,
    denied_requests,
    recorded,  # noqa: F401 (a fixture)
)

ME = "/api/v1/me"
RIGHT = {"confirm": deletion.CONFIRMATION}
SETTLE = settings.ACCOUNT_DELETION_SETTLE_SECONDS


class Killed(BaseException):
    """A run that dies where it stands (a Lambda timeout, a kill): no
    ``except Exception`` sees it, so nothing is tidied up."""


@pytest.fixture(autouse=True)
def clock() -> Iterator[SimpleNamespace]:
    """The deletion module's wall clock, real plus ``offset`` seconds."""
    now = SimpleNamespace(offset=0.0)

    def shifted() -> datetime:
        return datetime.now(UTC) + timedelta(seconds=now.offset)

    revocations.cache.clear()
    with mock.patch.object(deletion, "utcnow", shifted):
        yield now
    revocations.cache.clear()


def settle(clock: SimpleNamespace) -> None:
    """Late writes can no longer happen: the verify step may run."""
    clock.offset += SETTLE + 1


# --- What a user holds ---------------------------------------------------------------------


def partition(user_id: str) -> set[str]:
    """The sort keys of every item in the user's partition (consistent)."""
    found: set[str] = set()
    request: dict[str, Any] = {
        "TableName": settings.DYNAMODB_TABLE,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": user_pk(user_id)}},
        "ConsistentRead": True,
    }
    while True:
        page = client("dynamodb").query(**request)
        found.update(item["sk"]["S"] for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            return found
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def files(user_id: str) -> set[tuple[str, str]]:
    """Every object version and delete marker under the user's prefixes."""
    found: set[tuple[str, str]] = set()
    for prefix in (f"users/{user_id}/", f"exports/{user_id}/"):
        page = client("s3").list_object_versions(
            Bucket=settings.AWS_STORAGE_BUCKET_NAME, Prefix=prefix
        )
        assert not page.get("IsTruncated")
        for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            found.add((entry["Key"], entry["VersionId"]))
    return found


def in_cognito(user: User) -> dict[str, Any] | None:
    """AdminGetUser's answer, or None when Cognito says there is no such user."""
    try:
        return dict(
            client("cognito-idp").admin_get_user(
                UserPoolId=settings.COGNITO_USER_POOL_ID, Username=user.username
            )
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "UserNotFoundException":
            raise
        return None


def enabled(user: User) -> bool:
    found = in_cognito(user)
    assert found is not None
    return bool(found["Enabled"])


def state_of(user_id: str) -> deletion.DeletionState:
    state = deletion.deletion_state(user_id)
    assert state is not None
    return state


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.content
    return response.json() if response.content else None


def give_data(user: User) -> None:
    """A profile, a goal with two activities (their totals and buckets), an
    attachment file, one deleted (an old version and a delete marker stay
    in the versioned bucket), an export in two versions, and an item of a
    kind added after this code was written."""
    api = user.client()
    ok(api.patch(ME, {"display_name": "Zoë 🏃", "timezone": "Europe/Paris"}, "json"))
    goal = {"title": "Walk", "kind": "count", "target": "5"}
    goal_id = ok(api.post("/api/v1/goals", goal, "json"), 201)["id"]
    activities = [
        ok(api.post(f"/api/v1/goals/{goal_id}/activities", activity, "json"), 201)
        for activity in (
            {"occurred_at": datetime.now(UTC).isoformat(), "value": value} for value in (2, 3)
        )
    ]
    activity_id = activities[0]["id"]
    for keep in (True, False):
        started = start(api, activity_id)
        upload(started)
        ok(confirm(api, activity_id, started))
        if not keep:
            ok(api.delete(f"/api/v1/activities/{activity_id}/attachments/{started['id']}"), 204)
    s3 = client("s3")
    for content in (b'{"goals": []}', b'{"goals": [1]}'):
        s3.put_object(
            Bucket=settings.AWS_STORAGE_BUCKET_NAME,
            Key=f"exports/{user.user_id}/2026-11-28.json",
            Body=content,
        )
    client("dynamodb").put_item(
        TableName=settings.DYNAMODB_TABLE,
        Item={
            "pk": {"S": user_pk(user.user_id)},
            "sk": {"S": f"NEW_KIND#{uuid.uuid4()}"},
            "type": {"S": "NotYetInvented"},
        },
    )


@pytest.fixture
def owner(user: User) -> User:
    """The user who deletes their account, with data."""
    give_data(user)
    held = partition(user.user_id)
    assert {"PROFILE"} < held
    kinds = {sk.split("#")[0] for sk in held}
    assert kinds >= {"PROFILE", "GOAL", "ACTIVITY", "PROGRESS", "NEW_KIND"}
    kept = files(user.user_id)
    assert len(kept) == 5  # two attachments (one deleted: version + marker), two export versions
    return user


@pytest.fixture
def bystander(other_user: User) -> User:
    give_data(other_user)
    return other_user


def snapshot(user: User) -> tuple[set[str], set[tuple[str, str]]]:
    return partition(user.user_id), files(user.user_id)


def assert_untouched(user: User, before: tuple[set[str], set[tuple[str, str]]]) -> None:
    assert snapshot(user) == before
    assert enabled(user)
    ok(user.client().get(ME))


def assert_erased(user: User) -> None:
    assert partition(user.user_id) == set()
    assert files(user.user_id) == set()
    assert in_cognito(user) is None


def assert_refused(user: User) -> None:
    revocations.cache.clear()  # as every container has within REVOCATION_CACHE_SECONDS
    for token in (user.access_token, user.id_token):
        assert_error(user.client(token).get(ME), 401, "token_revoked")


def record(user_id: str) -> dict[str, Any] | None:
    """The deletion's item as stored (pending, else done)."""
    for sk in (deletion.pending_sk(user_id), deletion.done_sk(user_id)):
        item = client("dynamodb").get_item(
            TableName=settings.DYNAMODB_TABLE,
            Key={"pk": {"S": deletion.PK}, "sk": {"S": sk}},
            ConsistentRead=True,
        )
        if "Item" in item:
            return dict(item["Item"])
    return None


def outcomes_for(user_id: str, outcomes: list[deletion.Outcome]) -> list[str]:
    return [outcome.result for outcome in outcomes if outcome.state.user_id == user_id]


def audit_entries(user_id: str) -> list[audit.AuditEntry]:
    return audit.entries_about(user_id, limit=10).entries


# --- Confirmation ---------------------------------------------------------------------------

BAD_BODIES: list[tuple[str, Any]] = [
    ("nothing", {}),
    ("empty", {"confirm": ""}),
    ("capitalised", {"confirm": "Delete my account"}),
    ("trailing space", {"confirm": "delete my account "}),
    ("leading space", {"confirm": " delete my account"}),
    ("cyrillic o", {"confirm": "delete my acc\u043eunt"}),
    ("control character", {"confirm": "delete my account\u0000"}),
    ("lone surrogate", {"confirm": "\ud800"}),
    ("the username", {"confirm": "{username}"}),
    ("a number", {"confirm": 123}),
    ("null", {"confirm": None}),
    ("true", {"confirm": True}),
    ("a list", {"confirm": [deletion.CONFIRMATION]}),
    ("an object", {"confirm": {"confirm": deletion.CONFIRMATION}}),
    ("long", {"confirm": deletion.CONFIRMATION * 1000}),
    ("another user's id", {**RIGHT, "user_id": "{other}"}),
    ("another user's sub", {**RIGHT, "sub": "{other}"}),
    ("a JSON list", [RIGHT]),
    ("a JSON string", deletion.CONFIRMATION),
]


def test_a_missing_or_wrong_confirmation_is_a_400_and_nothing_happens(
    owner: User, bystander: User
) -> None:
    before, theirs = snapshot(owner), snapshot(bystander)
    api = owner.client()
    for name, body in BAD_BODIES:
        text = json.dumps(body).replace("{username}", owner.username)
        text = text.replace("{other}", bystander.user_id)
        response = api.delete(ME, text, content_type="application/json")
        assert response.status_code == 400, (name, response.content)
        assert response.json()["error"]["code"] == "validation_error", name
    assert_error(api.delete(ME), 400, "validation_error", "confirm")
    as_text = api.delete(ME, "confirm=delete my account", content_type="text/plain")
    assert_error(as_text, 415, "unsupported_media_type")
    assert_error(api.delete(ME, "{", content_type="application/json"), 400, "parse_error")
    huge = json.dumps({**RIGHT, "padding": "x" * 70_000})
    assert_error(api.delete(ME, huge, content_type="application/json"), 413, "payload_too_large")
    assert_error(
        owner.client().delete(f"{ME}/{bystander.user_id}", RIGHT, "json"), 404, "not_found"
    )
    assert_error(APIClient().delete(ME, RIGHT, "json"), 401, "not_authenticated")

    assert record(owner.user_id) is None
    assert_untouched(owner, before)
    assert_untouched(bystander, theirs)


def test_the_message_says_what_to_send_without_echoing_the_input(user: User) -> None:
    error = assert_error(
        user.client().delete(ME, {"confirm": "<script>"}, "json"),
        400,
        "validation_error",
        "confirm",
    )
    expected = f'Send exactly "{deletion.CONFIRMATION}" to delete your account.'
    assert error["fields"]["confirm"] == [expected]
    assert in_cognito(user) is not None


# --- The whole story -------------------------------------------------------------------------


def test_delete_erases_everything_of_the_user_and_nothing_of_anyone_else(
    aws_stack: dict[str, str], owner: User, bystander: User, clock: SimpleNamespace
) -> None:
    theirs = snapshot(bystander)

    response = owner.client().delete(ME, RIGHT, "json")

    # Erased at once; only the last check for late writes (and the audit) waits.
    body = ok(response, 202)
    assert body["status"] == "pending"
    assert body["steps_done"] == ["revoke", "files", "items", "cognito"]
    assert body["steps_left"] == ["verify", "audit"]
    assert body["completed_at"] is None
    assert_erased(owner)
    assert_refused(owner)
    assert audit_entries(owner.user_id) == []
    # Resuming before the writes settle changes nothing and costs no write.
    assert outcomes_for(owner.user_id, deletion.resume_pending()) == [deletion.WAITING]

    settle(clock)
    assert outcomes_for(owner.user_id, deletion.resume_pending()) == [deletion.FINISHED]

    assert_erased(owner)
    assert_refused(owner)
    assert_untouched(bystander, theirs)
    # The proof of erasure: the sub, the steps and counts, no personal data, a TTL.
    done = record(owner.user_id)
    assert done is not None
    assert done["sk"]["S"] == f"DONE#{owner.user_id}"
    assert done["status"]["S"] == "done"
    assert set(done["steps_done"]["SS"]) == set(deletion.STEPS)
    assert int(done["files_deleted"]["N"]) == 5
    assert int(done["items_deleted"]["N"]) >= 6
    assert "lease_owner" not in done
    text = json.dumps(done)
    assert owner.username not in text
    assert "example.com" not in text
    assert "Zoë" not in text
    expires = int(done["expires_at"]["N"])
    completed = datetime.fromisoformat(done["completed_at"]["S"].replace("Z", "+00:00"))
    assert expires == int((completed + timedelta(days=30)).timestamp())
    # What stays: the tombstone in the revocation list, the sub and a second.
    assert revocations.read_list()[owner.user_id] > 0
    # Staff see it in the audit log, by the sub only.
    [entry] = audit_entries(owner.user_id)
    assert (entry.actor, entry.action, entry.target, entry.result) == (
        f"self:{owner.user_id}", "account_delete", owner.user_id, "ok",
    )  # fmt: skip
    assert entry.detail.as_dict()["files_deleted"] == "5"
    assert owner.username not in json.dumps(entry.detail.as_dict())
    day = entry.at.date().isoformat()
    page = audit.entries(entry.at.date(), action="account_delete", target=owner.user_id)
    assert [found.entry_id for found in page.entries] == [entry.entry_id]
    support = console_for(make_user(aws_stack, "ops-support"))
    shown = support.get(f"/ops/audit?day={day}&action=account_delete&target={owner.user_id}")
    assert shown.status_code == 200
    html = shown.content.decode()
    assert '<option value="account_delete" selected>' in html
    assert html.count('<tr class="audit-entry">') == 1
    assert f"self:{owner.user_id}" in html

    # Idempotent: running again finds nothing to do, writes no second entry.
    assert outcomes_for(owner.user_id, deletion.resume_pending()) == []
    out = io.StringIO()
    call_command("account_deletions", "--resume", "--yes", stdout=out)
    assert owner.user_id not in out.getvalue()
    assert len(audit_entries(owner.user_id)) == 1
    assert state_of(owner.user_id).done


def test_with_nothing_to_wait_for_the_request_finishes_it(owner: User) -> None:
    with override_settings(ACCOUNT_DELETION_SETTLE_SECONDS=0):
        body = ok(owner.client().delete(ME, RIGHT, "json"), 200)
    assert body["status"] == "done"
    assert body["steps_done"] == list(deletion.STEPS)
    assert body["steps_left"] == []
    assert body["completed_at"] is not None
    assert_erased(owner)
    assert_refused(owner)
    assert len(audit_entries(owner.user_id)) == 1


def test_without_time_left_the_request_still_cuts_off_access(
    owner: User, clock: SimpleNamespace
) -> None:
    before = snapshot(owner)
    with override_settings(ACCOUNT_DELETION_REQUEST_SECONDS=0):
        body = ok(owner.client().delete(ME, RIGHT, "json"), 202)
    assert body["steps_done"] == ["revoke"]
    assert_refused(owner)
    assert not enabled(owner)
    # Only the account status the revocation wrote is new in the partition.
    assert snapshot(owner) == (before[0] | {"ACCOUNT_STATUS"}, before[1])

    settle(clock)
    assert outcomes_for(owner.user_id, deletion.resume_pending()) == [deletion.FINISHED]
    assert_erased(owner)


def test_writes_that_land_after_the_first_pass_are_erased_by_the_last(
    owner: User, clock: SimpleNamespace
) -> None:
    ok(owner.client().delete(ME, RIGHT, "json"), 202)
    assert_erased(owner)
    # A request let in just before the line, or an export finishing late.
    client("s3").put_object(
        Bucket=settings.AWS_STORAGE_BUCKET_NAME,
        Key=f"exports/{owner.user_id}/late.json",
        Body=b"{}",
    )
    client("dynamodb").put_item(
        TableName=settings.DYNAMODB_TABLE,
        Item={"pk": {"S": user_pk(owner.user_id)}, "sk": {"S": "GOAL#late"}},
    )
    items_before = state_of(owner.user_id).items_deleted

    settle(clock)
    assert outcomes_for(owner.user_id, deletion.resume_pending()) == [deletion.FINISHED]

    assert partition(owner.user_id) == set()
    assert files(owner.user_id) == set()
    done = state_of(owner.user_id)
    assert done.files_deleted == 6
    assert done.items_deleted == items_before + 1


# --- Crashes ----------------------------------------------------------------------------------

STEP_FUNCTIONS = {
    "revoke": "revoke_access",
    "files": "delete_files",
    "items": "delete_items",
    "cognito": "delete_cognito_user",
    "verify": "verify_erased",
    "audit": "record_audit",
}


def fail_once(real: Callable[..., Any], error: BaseException) -> Callable[..., Any]:
    calls: list[int] = []

    def step(run: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise error
        return real(run)

    return step


def assert_consistent(
    owner: User, before: tuple[set[str], set[tuple[str, str]]], failed: str
) -> None:
    """What a deletion that stopped in ``failed`` has done, and only that."""
    done = deletion.STEPS[: deletion.STEPS.index(failed)]
    held, kept = snapshot(owner)
    revoked = "revoke" in done
    if revoked:
        assert_refused(owner)
    else:
        ok(owner.client().get(ME))
    assert kept == (set() if "files" in done else before[1])
    if "items" in done:
        assert held == set()
    else:
        assert held == before[0] | ({"ACCOUNT_STATUS"} if revoked else set())
    cognito = in_cognito(owner)
    if "cognito" in done:
        assert cognito is None
    else:
        assert cognito is not None
        assert cognito["Enabled"] is not revoked
    assert audit_entries(owner.user_id) == []


@pytest.mark.parametrize("resumer", ["function", "command"])
@pytest.mark.parametrize("failed", deletion.STEPS)
def test_a_step_that_fails_loses_nothing_and_resuming_completes_it(
    owner: User, bystander: User, failed: str, resumer: str
) -> None:
    before, theirs = snapshot(owner), snapshot(bystander)
    name = STEP_FUNCTIONS[failed]
    broken = fail_once(getattr(deletion, name), RuntimeError("injected"))
    with (
        override_settings(ACCOUNT_DELETION_SETTLE_SECONDS=0),
        mock.patch.object(deletion, name, broken),
    ):
        body = ok(owner.client().delete(ME, RIGHT, "json"), 202)
        assert body["status"] == "pending"
        state = state_of(owner.user_id)
        assert state.steps_done == deletion.STEPS[: deletion.STEPS.index(failed)]
        assert state.last_error == f"{failed}: RuntimeError"
        assert not state.held  # released: the next run need not wait
        assert_consistent(owner, before, failed)

        if resumer == "function":
            assert outcomes_for(owner.user_id, deletion.resume_pending()) == [deletion.FINISHED]
        else:
            out = io.StringIO()
            call_command("account_deletions", "--resume", "--yes", stdout=out)
            assert f"  {owner.user_id}: deleted (5 file versions, " in out.getvalue()

    assert_erased(owner)
    assert_refused(owner)
    assert len(audit_entries(owner.user_id)) == 1
    assert state_of(owner.user_id).done
    assert_untouched(bystander, theirs)


def test_a_killed_run_keeps_its_lease_until_it_expires(owner: User, clock: SimpleNamespace) -> None:
    before = snapshot(owner)
    killer = fail_once(deletion.delete_items, Killed())
    with (
        override_settings(ACCOUNT_DELETION_SETTLE_SECONDS=0),
        mock.patch.object(deletion, "delete_items", killer),
    ):
        with pytest.raises(Killed):
            owner.client().delete(ME, RIGHT, "json")
        state = state_of(owner.user_id)
        assert state.steps_done == ("revoke", "files")
        assert state.held
        assert_consistent(owner, before, "items")

        # Nobody works on it while the dead run's lease lasts...
        assert outcomes_for(owner.user_id, deletion.resume_pending()) == [deletion.HELD]
        assert state_of(owner.user_id).steps_done == ("revoke", "files")
        # ... then the next run takes over.
        clock.offset += deletion.LEASE_SECONDS + 1
        assert outcomes_for(owner.user_id, deletion.resume_pending()) == [deletion.FINISHED]
    assert_erased(owner)
    assert state_of(owner.user_id).attempts == 2


def test_a_second_request_while_pending_carries_on_the_same_deletion(owner: User) -> None:
    broken = fail_once(deletion.revoke_access, RuntimeError("Cognito is down"))
    with (
        override_settings(ACCOUNT_DELETION_SETTLE_SECONDS=0),
        mock.patch.object(deletion, "revoke_access", broken),
    ):
        first = ok(owner.client().delete(ME, RIGHT, "json"), 202)
        assert first["steps_done"] == []
        # Access was not cut: the app may ask again, and that finishes it.
        again = ok(owner.client().delete(ME, RIGHT, "json"), 200)
    assert again["requested_at"] == first["requested_at"]
    assert_erased(owner)
    assert len(audit_entries(owner.user_id)) == 1


def test_unprocessed_deletes_are_retried_and_never_left_behind(owner: User) -> None:
    dynamodb = client("dynamodb")
    real_batch, real_query = dynamodb.batch_write_item, dynamodb.query
    sent: list[list[Any]] = []
    queries: list[int] = []

    def throttled(**kwargs: Any) -> Any:
        """DynamoDB under load: the first batch takes one delete, leaves the rest."""
        table, requests = next(iter(kwargs["RequestItems"].items()))
        sent.append(requests)
        if len(sent) == 1:
            real_batch(RequestItems={table: requests[:1]})
            return {"UnprocessedItems": {table: requests[1:]}}
        return real_batch(**kwargs)

    def counted(**kwargs: Any) -> Any:
        answer = real_query(**kwargs)
        if kwargs.get("ExpressionAttributeValues") == {":pk": {"S": user_pk(owner.user_id)}}:
            queries.append(len(answer["Items"]))
        return answer

    with (
        override_settings(ACCOUNT_DELETION_SETTLE_SECONDS=0),
        mock.patch.object(dynamodb, "batch_write_item", throttled),
        mock.patch.object(dynamodb, "query", counted),
    ):
        ok(owner.client().delete(ME, RIGHT, "json"), 200)
    # The unprocessed deletes are sent again as they are, before the next Query:
    # one page of keys, one empty page (the items step), one empty page (verify).
    assert sent[1] == sent[0][1:]
    assert queries == [len(sent[0]), 0, 0]
    assert_erased(owner)


def test_deletes_dynamodb_never_takes_are_a_failure_then_resumed(owner: User) -> None:
    def refusing(**kwargs: Any) -> Any:
        return {"UnprocessedItems": kwargs["RequestItems"]}

    with (
        override_settings(ACCOUNT_DELETION_SETTLE_SECONDS=0),
        mock.patch.object(client("dynamodb"), "batch_write_item", refusing),
        mock.patch.object(deletion, "backoff"),
    ):
        ok(owner.client().delete(ME, RIGHT, "json"), 202)
    state = state_of(owner.user_id)
    assert state.steps_done == ("revoke", "files")
    assert state.last_error == "items: ErasureIncomplete"
    assert partition(owner.user_id)
    with override_settings(ACCOUNT_DELETION_SETTLE_SECONDS=0):
        assert outcomes_for(owner.user_id, deletion.resume_pending()) == [deletion.FINISHED]
    assert_erased(owner)


# --- Only ever the caller's own data -----------------------------------------------------------


@pytest.mark.parametrize(
    "user_id",
    ["", "x", "../etc", "USER#x", "0B9E2A3C-1F4D-4E5A-9B6C-7D8E9F0A1B2C", "a/b", "*", "users/"],
)
def test_nothing_but_a_sub_can_name_whose_data_goes(user_id: str) -> None:
    with pytest.raises(ValueError, match="sub"):
        deletion.account_delete(user_id=user_id)
    with pytest.raises(ValueError, match="sub"):
        deletion.user_prefixes(user_id)


# --- The command ----------------------------------------------------------------------------------


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("account_deletions", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_command_lists_dry_runs_confirms_and_resumes(
    owner: User, clock: SimpleNamespace
) -> None:
    with override_settings(ACCOUNT_DELETION_REQUEST_SECONDS=0):
        ok(owner.client().delete(ME, RIGHT, "json"), 202)
    before = snapshot(owner)

    listed = run()
    assert f"  {owner.user_id}  requested " in listed
    assert "      done: revoke; left: files, items, cognito, verify, audit\n" in listed

    planned = run("--resume", "--dry-run")
    assert "Dry run: nothing was changed." in planned
    assert f"  {owner.user_id}: run files, items, cognito, verify, audit\n" in planned
    assert snapshot(owner) == before

    with pytest.raises(CommandError, match="stdin is not a terminal"):
        call_command(
            "account_deletions", "--resume", stdin=io.StringIO("y\n"), stdout=io.StringIO()
        )
    for wrong in (
        ["--yes"],
        ["--dry-run"],
        ["--max-seconds", "5"],
        ["--resume", "--max-seconds", "0"],
    ):
        with pytest.raises(CommandError):
            run(*wrong)
    assert snapshot(owner) == before

    out = run("--resume", "--yes", "--max-seconds", "60")
    assert "Resuming " in out
    assert f"  {owner.user_id}: erased; the last check for late writes waits until " in out
    assert "still pending" in out
    assert partition(owner.user_id) == set()

    listed = run()
    assert "      erased; the last check for late writes waits until " in listed

    settle(clock)
    out = run("--resume", "--yes")
    assert f"  {owner.user_id}: deleted (5 file versions, " in out
    assert owner.user_id not in run()
    assert_erased(owner)


def test_the_command_fails_loudly_when_a_deletion_fails(owner: User) -> None:
    with override_settings(ACCOUNT_DELETION_REQUEST_SECONDS=0):
        ok(owner.client().delete(ME, RIGHT, "json"), 202)
    error = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "ListObjectVersions")
    with (
        mock.patch.object(deletion, "delete_files", side_effect=error),
        pytest.raises(CommandError, match="1 deletion"),
    ):
        run("--resume", "--yes")
    listed = run()
    assert "last error: files: ClientError (AccessDenied)" in listed
    with override_settings(ACCOUNT_DELETION_SETTLE_SECONDS=0):
        assert f"  {owner.user_id}: deleted " in run("--resume", "--yes")


# --- Deployment: the schedule and the IAM policy ----------------------------------------------


def test_zappa_runs_the_resume_every_15_minutes_through_its_handler(
    owner: User,
    settings_module: dict[str, Any],  # noqa: F811 (the fixture imported above)
) -> None:
    from zappa.core import Zappa
    from zappa.handler import logger as zappa_logger

    [event] = dev_stage()["events"]
    assert event == {**event, "expression": "rate(15 minutes)"}
    function = event["function"]
    assert function == "accounts.deletion.scheduled_resume"
    module, name = function.rsplit(".", 1)
    assert getattr(__import__(module, fromlist=[name]), name) is deletion.scheduled_resume

    with override_settings(ACCOUNT_DELETION_REQUEST_SECONDS=0):
        ok(owner.client().delete(ME, RIGHT, "json"), 202)
    zappa = Zappa(load_credentials=False, aws_region=REGION)
    rule = zappa.get_scheduled_event_name(event, function, f"{dev_stage()['project_name']}-dev")
    scheduled = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-11-28T12:15:00Z",
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}"],
        "detail": {},
    }
    loggers = (logging.getLogger(), zappa_logger)
    levels = [logger.level for logger in loggers]
    forget_handler()
    try:
        with mock.patch.dict(os.environ), override_settings(ACCOUNT_DELETION_SETTLE_SECONDS=0):
            counts = invoke(scheduled)
    finally:
        forget_handler()
        clear_script_prefix()
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
    assert counts.get(deletion.FINISHED, 0) >= 1
    assert_erased(owner)


def test_the_lambda_policy_allows_every_request_of_a_deletion(
    owner: User,
    recorded: list[Call],  # noqa: F811 (the fixture imported above)
) -> None:
    recorded.clear()
    with override_settings(ACCOUNT_DELETION_SETTLE_SECONDS=0):
        ok(owner.client().delete(ME, RIGHT, "json"), 200)
    deletion.resume_pending()
    denied = denied_requests(
        recorded,
        table=settings.DYNAMODB_TABLE,
        user_pool_id=settings.COGNITO_USER_POOL_ID,
        bucket=settings.AWS_STORAGE_BUCKET_NAME,
    )
    assert not denied, denied
    assert {call.operation for call in recorded} >= {
        "ListUsers",
        "AdminDisableUser",
        "AdminUserGlobalSignOut",
        "AdminDeleteUser",
        "ListObjectVersions",
        "DeleteObjects",
        "Query",
        "BatchWriteItem",
        "TransactWriteItems",
    }
    versioned = [
        entry
        for call in recorded
        if call.operation == "DeleteObjects"
        for entry in call.params["Delete"]["Objects"]
    ]
    assert versioned
    assert all(entry.get("VersionId") for entry in versioned)


def test_the_policy_lets_deletion_list_a_users_prefixes_only() -> None:
    policy = render_policy(
        PolicyTarget(
            account_id=ACCOUNT,
            region=REGION,
            function_name="ai-lifestyle-app-prod",
            table="ai-lifestyle-app-goals-prod",
            bucket="ai-lifestyle-app-attachments-prod",
            user_pool_id=f"{REGION}_Example1",
            secret_name="ai-lifestyle-app/prod",
        )
    )
    bucket = "arn:aws:s3:::ai-lifestyle-app-attachments-prod"
    sub = str(uuid.uuid4())
    for prefix in (f"users/{sub}/", f"exports/{sub}/"):
        assert is_allowed(policy, "s3:ListBucketVersions", bucket, {"s3:prefix": prefix})
    for prefix in ("", "users/", "exports/", "backups/x/"):
        assert not is_allowed(policy, "s3:ListBucketVersions", bucket, {"s3:prefix": prefix})
    assert not is_allowed(policy, "s3:ListBucketVersions", bucket)
    assert is_allowed(policy, "s3:DeleteObjectVersion", f"{bucket}/exports/{sub}/a.json")
    assert not is_allowed(policy, "s3:GetObject", f"{bucket}/exports/{sub}/a.json")
    assert not is_allowed(policy, "s3:DeleteObjectVersion", f"{bucket}/static/app.js")
    pool = f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{REGION}_Example1"
    assert is_allowed(policy, "cognito-idp:AdminDeleteUser", pool)
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/ai-lifestyle-app-goals-prod"
    assert is_allowed(policy, "dynamodb:BatchWriteItem", table)
    assert not is_allowed(policy, "dynamodb:BatchWriteItem", table.replace("-prod", "-dev"))
