"""Exports of everything a user has (accounts/exports.py), through HTTP
against moto: the zip is downloaded through its presigned URL and every file
in it compared with what the API returns.

Outside Lambda an export runs within the POST; inside Lambda the POST asks
Zappa to invoke the function again. That path is run here too: moto's
Lambda (without Docker) takes the asynchronous invocation, and the event it
was sent is handed to Zappa's handler, as Lambda would."""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings
from django.core.files.storage import storages
from rest_framework.test import APIClient

from accounts import exports
from accounts.exports import ExportJob, LatestExport
from lifestyle.aws import client
from lifestyle.dynamo import user_pk
from lifestyle.iam_policy import PolicyTarget, is_allowed, render_policy
from lifestyle.provisioning import EXPORTS_LIFECYCLE_RULE, TTL_ATTRIBUTE
from tests.conftest import User, assert_error
from tests.lambda_handler.conftest import (  # noqa: F401 (fixtures used by name)
    cold_container,
    invoke,
    settings_module,
)
from tests.test_deploy_config import Call, iam_requests, recorded  # noqa: F401

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # every byte value: any mangling shows
NOTES = [
    "Café ☕ — 走った 🏃\u200d♀️ مرحبا",
    'quotes " and \\ backslash\nand a second line',
    "e\u0301 (a combining accent) and \U0001f9d8",
]
FUNCTION = "ai-lifestyle-app-dev"  # Zappa's name for the dev stage's function
ACCOUNT = "123456789012"


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.content
    return response.json() if response.content else None


def path_of(url: str) -> str:
    return urlsplit(url).path


# --- Making a user's data ---------------------------------------------------------


def attach(api: APIClient, activity_id: str, content: bytes, upload: bool = True) -> str:
    """An attachment on the activity through the API: started, and unless
    told otherwise uploaded with the presigned POST and confirmed."""
    base = f"/api/v1/activities/{activity_id}/attachments"
    started = ok(api.post(base, {"content_type": "image/png", "size": len(content)}, "json"), 201)
    if upload:
        form = started["upload"]
        sent = requests.post(
            form["url"], data=form["fields"], files={"file": ("p.png", content)}, timeout=30
        )
        assert sent.status_code == 204, sent.text
        ok(api.post(f"{base}/{started['id']}/confirm"))
    return str(started["id"])


def log(api: APIClient, goal_id: str, note: str, hours_ago: int, value: Any = 1) -> str:
    when = (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat()
    body = {"occurred_at": when, "note": note, "value": value}
    return str(ok(api.post(f"/api/v1/goals/{goal_id}/activities", body, "json"), 201)["id"])


def seed(api: APIClient) -> dict[str, Any]:
    """A profile, two goals (one archived), activities with unicode notes,
    one confirmed attachment and one never uploaded."""
    ok(api.patch("/api/v1/me", {"display_name": "Zoë 🌱", "timezone": "Europe/Paris"}, "json"))
    walk = ok(
        api.post(
            "/api/v1/goals",
            {"title": "Walk 🚶", "kind": "count", "target": "5", "period": "daily"},
            "json",
        ),
        201,
    )["id"]
    read = ok(
        api.post("/api/v1/goals", {"title": "Read", "kind": "duration", "target": "1800"}, "json"),
        201,
    )["id"]
    activities = [log(api, walk, note, hours) for hours, note in enumerate(NOTES, start=1)]
    activities.append(log(api, read, "chapter 3", 5, value=1200))
    ok(api.post(f"/api/v1/goals/{read}/archive"))
    confirmed = attach(api, activities[0], PNG)
    attach(api, activities[1], PNG, upload=False)  # pending: never exported
    return {"goals": [walk, read], "activities": activities, "attachment": confirmed}


@pytest.fixture
def other_data(other_user: User) -> str:
    """Another user's goal and activity, whose note must appear nowhere."""
    api = other_user.client()
    goal = ok(api.post("/api/v1/goals", {"title": "Theirs", "kind": "habit"}, "json"), 201)
    activity = log(api, goal["id"], "OTHER-USERS-NOTE", 1)
    attach(api, activity, b"\x89PNG\r\n\x1a\nOTHER")
    return "OTHER-USERS-NOTE"


# --- Reading an export ---------------------------------------------------------------


def start(api: APIClient) -> dict[str, Any]:
    response = api.post("/api/v1/me/export")
    body = ok(response, 202)
    assert response["Location"] == body["status_url"]
    assert response["Cache-Control"] == "no-store"
    assert path_of(body["status_url"]) == f"/api/v1/me/exports/{body['id']}"
    return dict(body)


def status(api: APIClient, export_id: str) -> dict[str, Any]:
    response = api.get(f"/api/v1/me/exports/{export_id}")
    body = ok(response)
    assert response["Cache-Control"] == "no-store"
    return dict(body)


def download(url: str) -> tuple[zipfile.ZipFile, requests.Response]:
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, response.text
    return zipfile.ZipFile(io.BytesIO(response.content)), response


def read_json(archive: zipfile.ZipFile, name: str) -> Any:
    return json.loads(archive.read(name).decode("utf-8"))


def everything_listed(api: APIClient, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = ok(api.get(path, {"limit": 100, **({"cursor": cursor} if cursor else {})}))
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def stored_versions(user_id: str) -> list[dict[str, Any]]:
    listed = client("s3").list_object_versions(
        Bucket=settings.AWS_STORAGE_BUCKET_NAME, Prefix=f"exports/{user_id}/"
    )
    return [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])]


def job_item(user_id: str, export_id: str) -> dict[str, Any]:
    item = client("dynamodb").get_item(
        TableName=settings.DYNAMODB_TABLE,
        Key={"pk": {"S": user_pk(user_id)}, "sk": {"S": f"EXPORT#{export_id}"}},
        ConsistentRead=True,
    )
    return dict(item["Item"])


# --- The whole export ------------------------------------------------------------------


def test_the_zip_holds_everything_the_api_shows_and_nothing_else(
    api: APIClient, user: User, other_data: str, tmp_path: Any
) -> None:
    made = seed(api)
    with mock.patch.object(exports.tempfile, "tempdir", str(tmp_path)):
        started = start(api)
    assert started["status"] == "ready"  # outside Lambda it runs within the request
    assert list(tmp_path.iterdir()) == []  # the scratch files are gone

    state = status(api, started["id"])
    assert state["status"] == "ready"
    assert state["counts"] == {"goals": 2, "activities": 4, "attachments": 1}
    assert state["error"] is None
    assert state["finished_at"] >= state["started_at"] >= state["created_at"]
    expires = datetime.fromisoformat(state["expires_at"])
    assert timedelta(days=6, hours=23) < expires - datetime.now(UTC) <= timedelta(days=7)
    until = datetime.fromisoformat(state["download_expires_at"])
    assert timedelta(minutes=9) < until - datetime.now(UTC) <= timedelta(minutes=10)

    archive, response = download(state["download_url"])
    made_on = state["created_at"][:10]
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="lifestyle-export-{made_on}-{started["id"]}.zip"'
    )
    assert state["size"] == len(response.content)
    attachment_file = f"attachments/{made['activities'][0]}/{made['attachment']}.png"
    assert sorted(archive.namelist()) == sorted(
        ["profile.json", "goals.json", "activities.json", "README.txt", attachment_file]
    )
    assert archive.testzip() is None
    compression = {info.filename: info.compress_type for info in archive.infolist()}
    assert compression.pop(attachment_file) == zipfile.ZIP_STORED  # a PNG is compressed already
    assert set(compression.values()) == {zipfile.ZIP_DEFLATED}

    assert read_json(archive, "profile.json") == ok(api.get("/api/v1/me"))
    goals = read_json(archive, "goals.json")
    assert goals == sorted(everything_listed(api, "/api/v1/goals"), key=lambda g: g["id"])
    assert {goal["status"] for goal in goals} == {"active", "archived"}

    records = read_json(archive, "activities.json")
    assert [record["id"] for record in records] == sorted(made["activities"])
    for record in records:
        files = record.pop("attachments")
        assert record == ok(api.get(f"/api/v1/activities/{record['id']}"))
        listed = ok(api.get(f"/api/v1/activities/{record['id']}/attachments"))["items"]
        for item in listed:
            item.pop("download_url")
            item["file"] = attachment_file
        assert files == listed
    assert {record["note"] for record in records} >= set(NOTES)
    assert archive.read(attachment_file) == PNG

    text = archive.read("README.txt").decode()
    for name in ("profile.json", "goals.json", "activities.json", "attachments/", "RFC 3339"):
        assert name in text
    assert "Goals: 2. Activities: 4. Attachment files: 1." in text
    for name in archive.namelist():
        content = archive.read(name)
        assert other_data.encode() not in content, name
        assert b"OTHER" not in content, name


def test_the_file_is_encrypted_and_expires_with_its_job(api: APIClient, user: User) -> None:
    export_id = start(api)["id"]
    key = f"exports/{user.user_id}/{export_id}.zip"
    head = client("s3").head_object(Bucket=settings.AWS_STORAGE_BUCKET_NAME, Key=key)
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentType"] == "application/zip"

    item = job_item(user.user_id, export_id)
    finished = datetime.fromisoformat(item["finished_at"]["S"].replace("Z", "+00:00"))
    assert TTL_ATTRIBUTE == "expires_at"
    assert int(item["expires_at"]["N"]) == int((finished + exports.KEEP_FOR).timestamp())
    assert item["s3_key"]["S"] == key
    # The bucket's rule deletes the file when DynamoDB's TTL deletes the job.
    rules = client("s3").get_bucket_lifecycle_configuration(
        Bucket=settings.AWS_STORAGE_BUCKET_NAME
    )["Rules"]
    ours = next(rule for rule in rules if rule["ID"] == EXPORTS_LIFECYCLE_RULE["ID"])
    assert ours["Filter"] == {"Prefix": "exports/"}
    assert ours["Expiration"] == {"Days": exports.KEEP_FOR.days}


def test_a_user_who_never_saved_anything_gets_the_defaults(api: APIClient) -> None:
    state = status(api, start(api)["id"])
    archive, _ = download(state["download_url"])
    assert read_json(archive, "profile.json") == ok(api.get("/api/v1/me"))
    assert read_json(archive, "profile.json")["version"] == 0
    assert read_json(archive, "goals.json") == []
    assert read_json(archive, "activities.json") == []
    assert state["counts"] == {"goals": 0, "activities": 0, "attachments": 0}


def test_an_attachment_whose_file_is_gone_is_listed_without_a_file(
    api: APIClient, user: User
) -> None:
    made = seed(api)
    key = f"users/{user.user_id}/activities/{made['activities'][0]}/{made['attachment']}.png"
    storages["default"].delete(key)

    archive, _ = download(status(api, start(api)["id"])["download_url"])
    record = next(
        r for r in read_json(archive, "activities.json") if r["id"] == made["activities"][0]
    )
    assert [item["file"] for item in record["attachments"]] == [None]
    assert not [name for name in archive.namelist() if name.startswith("attachments/")]
    assert "Attachment files no longer stored: 1;" in archive.read("README.txt").decode()


# --- Who may see it ------------------------------------------------------------------


def test_another_users_export_is_not_found(api: APIClient, other_user: User) -> None:
    export_id = start(api)["id"]
    assert_error(other_user.client().get(f"/api/v1/me/exports/{export_id}"), 404, "not_found")
    assert_error(other_user.client().get(f"/api/v1/me/exports/{export_id.lower()}"), 404,
                 "not_found")  # fmt: skip


@pytest.mark.parametrize(
    "export_id",
    ["nope", "0" * 27, "01ARZ3NDEKTSV4RRFFQ69G5FAV", "6f1c2a6e-2f55-4e0b-9a6c-3d1f1b2c3d4e",
     "%F0%9F%98%80", "x" * 2000],
)  # fmt: skip
def test_unknown_or_malformed_ids_are_not_found(api: APIClient, export_id: str) -> None:
    assert_error(api.get(f"/api/v1/me/exports/{export_id}"), 404, "not_found")


def test_anonymous_requests_are_refused(anonymous: APIClient, api: APIClient) -> None:
    export_id = start(api)["id"]
    assert anonymous.post("/api/v1/me/export").status_code == 401
    assert anonymous.get(f"/api/v1/me/exports/{export_id}").status_code == 401


@pytest.mark.parametrize(
    "body",
    [{"format": "csv"}, {"status": "ready"}, ["x"], "text", 5],
    ids=["unknown-field", "a-response-field", "list", "string", "number"],
)
def test_a_post_with_fields_is_refused_and_starts_nothing(
    api: APIClient, user: User, body: Any
) -> None:
    assert_error(api.post("/api/v1/me/export", body, "json"), 400, "validation_error")
    with pytest.raises(LatestExport.DoesNotExist):
        LatestExport.get(user_pk(user.user_id), exports.LATEST_SK)


def test_a_post_that_is_not_json_is_refused(api: APIClient) -> None:
    response = api.post(
        "/api/v1/me/export", "a=b", content_type="application/x-www-form-urlencoded"
    )
    assert_error(response, 415, "unsupported_media_type")
    assert_error(api.post("/api/v1/me/export", "{", content_type="application/json"), 400,
                 "parse_error")  # fmt: skip


def test_only_post_and_get_are_allowed(api: APIClient) -> None:
    export_id = start(api)["id"]
    assert api.get("/api/v1/me/export").status_code == 405
    assert api.delete(f"/api/v1/me/exports/{export_id}").status_code == 405


# --- Failures ------------------------------------------------------------------------------


@pytest.fixture
def storage_client() -> Any:
    """The botocore client the S3 storage uploads with."""
    return storages["default"].bucket.meta.client


def failing(
    when: Callable[[dict[str, Any]], bool], code: str = "InternalError", http_status: int = 500
) -> Callable[..., Any]:
    """A botocore ``before-call`` handler: AWS's answer to the request is this
    error when ``when(request)`` holds. botocore raises it as it would an
    answer from AWS (and does not retry: retries happen after sending)."""

    def handler(params: dict[str, Any], **_: Any) -> Any:
        if not when(params):
            return None
        answer = {
            "Error": {"Code": code, "Message": "injected"},
            "ResponseMetadata": {"HTTPStatusCode": http_status},
        }
        return mock.Mock(status_code=http_status), answer

    return handler


MULTIPART = {
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
}


def export_iam_requests(call: Call) -> list[tuple[str, str, dict[str, str]]]:
    """As tests/test_deploy_config.py maps requests to IAM, plus the ones
    only exports make: Lambda's Invoke, and S3's multipart uploads."""
    if call.service == "lambda" and call.operation == "Invoke":
        arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{call.params['FunctionName']}"
        return [("lambda:InvokeFunction", arn, {})]
    if call.service == "s3" and call.operation in MULTIPART:
        obj = f"arn:aws:s3:::{call.params['Bucket']}/{call.params['Key']}"
        return [(MULTIPART[call.operation], obj, {})]
    return iam_requests(call)


def denied(calls: list[Call], user_pool_id: str) -> list[str]:
    """The requests the function's policy (dev stage) would refuse."""
    policy = render_policy(
        PolicyTarget(
            account_id=ACCOUNT,
            region="us-east-1",
            function_name=FUNCTION,
            table=settings.DYNAMODB_TABLE,
            bucket=settings.AWS_STORAGE_BUCKET_NAME,
            user_pool_id=user_pool_id,
            secret_name="ai-lifestyle-app/dev",
        )
    )
    requested = [r for call in calls for r in export_iam_requests(call)]
    return sorted({f"{a} {r}" for a, r, c in requested if not is_allowed(policy, a, r, c)})


def test_a_failed_upload_fails_the_job_and_leaves_no_file(
    api: APIClient,
    user: User,
    storage_client: Any,
    tmp_path: Any,
    aws_stack: dict[str, str],
    recorded: list[Call],  # noqa: F811
) -> None:
    # 9 MB of attachment makes a zip boto3 uploads in parts (over 8 MB).
    goal = ok(api.post("/api/v1/goals", {"title": "Photos", "kind": "habit"}, "json"), 201)
    big = os.urandom(9 * 1024 * 1024)
    attach(api, log(api, goal["id"], "big one", 1), big)
    recorded.clear()

    handler = failing(lambda request: "partNumber=2" in request["url"])  # the second part
    storage_client.meta.events.register("before-call.s3.UploadPart", handler)
    try:
        with mock.patch.object(exports.tempfile, "tempdir", str(tmp_path)):
            started = start(api)
    finally:
        storage_client.meta.events.unregister("before-call.s3.UploadPart", handler)
    operations = {call.operation for call in recorded}
    assert {"CreateMultipartUpload", "UploadPart", "AbortMultipartUpload"} <= operations
    assert not denied(recorded, aws_stack["user_pool_id"])

    assert started["status"] == "failed"
    state = status(api, started["id"])
    assert (state["status"], state["error"]) == ("failed", "unavailable")
    assert state["download_url"] is None
    assert state["counts"] is None
    assert stored_versions(user.user_id) == []
    uploads = client("s3").list_multipart_uploads(
        Bucket=settings.AWS_STORAGE_BUCKET_NAME, Prefix=f"exports/{user.user_id}/"
    )
    assert uploads.get("Uploads", []) == []  # the parts sent were aborted
    assert list(tmp_path.iterdir()) == []
    assert job_item(user.user_id, started["id"])["error"] == {"S": "unavailable"}

    again = start(api)  # a failed export does not block the next
    assert again["id"] != started["id"]
    assert again["status"] == "ready"
    archive, _ = download(status(api, again["id"])["download_url"])
    assert big in [archive.read(name) for name in archive.namelist()]


def test_an_export_too_large_fails_with_that_reason(api: APIClient, user: User) -> None:
    seed(api)
    with mock.patch.object(exports, "MAX_ATTACHMENT_BYTES", len(PNG) - 1):
        started = start(api)
    assert (started["status"], started["error"]) == ("failed", "too_large")
    assert stored_versions(user.user_id) == []


class LambdaDied(BaseException):
    """What a timeout does to a run: it stops, nothing is recorded."""


def test_a_run_that_died_is_reported_failed_and_a_new_one_can_start(
    api: APIClient, user: User
) -> None:
    def die(model: Any, **_: Any) -> None:
        raise LambdaDied()

    from lifestyle import dynamo

    dynamo.TableItem._get_connection()  # the shared botocore client exists
    events = dynamo._client.meta.events
    events.register("before-call.dynamodb.Query", die)
    try:
        with pytest.raises(LambdaDied):
            api.post("/api/v1/me/export")
    finally:
        events.unregister("before-call.dynamodb.Query", die)
    latest = LatestExport.get(user_pk(user.user_id), exports.LATEST_SK)
    export_id = latest.export_id

    assert status(api, export_id)["status"] == "running"
    assert start(api)["id"] == export_id  # still within the bound: the same one

    later = datetime.now(UTC) + exports.RUNNING_STALE + timedelta(seconds=1)
    with mock.patch("accounts.exports.utcnow", return_value=later):
        state = status(api, export_id)
        assert (state["status"], state["error"]) == ("failed", "timed_out")
        fresh = start(api)
    assert fresh["id"] != export_id
    assert fresh["status"] == "ready"
    # The dead run's job is left as it was: reported failed, never ready.
    assert job_item(user.user_id, export_id)["status"] == {"S": "running"}


def test_a_repeated_or_unknown_invocation_does_nothing(api: APIClient, user: User) -> None:
    export_id = start(api)["id"]
    assert exports.export_run(user_id=user.user_id, export_id=export_id) == "skipped"
    assert exports.export_run(user_id=user.user_id, export_id=exports.new_ulid()) == "skipped"


# --- In Lambda: Zappa's asynchronous invocation -------------------------------------


@pytest.fixture
def in_lambda(aws_stack: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process as Lambda runs it (AWS_LAMBDA_FUNCTION_NAME set), with
    moto's Lambda answering invocations without running anything."""
    config = f"{aws_stack['endpoint']}/moto-api/config"
    requests.post(config, json={"lambda": {"use_docker": False}}, timeout=10).raise_for_status()
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
    try:
        yield
    finally:
        requests.post(config, json={"lambda": {"use_docker": True}}, timeout=10)


def invocations(calls: list[Call]) -> list[dict[str, Any]]:
    return [
        json.loads(call.params["Payload"])
        for call in calls
        if (call.service, call.operation) == ("lambda", "Invoke")
    ]


def test_in_lambda_the_export_runs_in_an_asynchronous_invocation(
    in_lambda: None,
    api: APIClient,
    user: User,
    aws_stack: dict[str, str],
    recorded: list[Call],  # noqa: F811
) -> None:
    made = seed(api)
    recorded.clear()

    started = start(api)
    assert started["status"] == "pending"
    assert started["download_url"] is None
    sent = invocations(recorded)
    assert len(sent) == 1
    event = sent[0]
    invoke_call = next(call for call in recorded if call.service == "lambda")
    assert invoke_call.params["InvocationType"] == "Event"
    assert invoke_call.params["FunctionName"] == FUNCTION
    assert event["command"] == "zappa.asynchronous.route_lambda_task"
    assert event["task_path"] == "accounts.exports.export_run"
    assert event["kwargs"] == {"user_id": user.user_id, "export_id": started["id"]}

    again = start(api)  # while it is pending: the same export, no second invocation
    assert again["id"] == started["id"]
    assert len(invocations(recorded)) == 1

    # The worker: Zappa's handler gets the event. While it runs, a POST
    # gets the running export.
    seen: list[dict[str, Any]] = []

    def post_while_running(model: Any, **_: Any) -> None:
        if not seen:
            seen.append(start(api))

    from lifestyle import dynamo

    events = dynamo._client.meta.events
    events.register("before-call.dynamodb.Query", post_while_running)
    try:
        assert invoke(event) == "ready"
    finally:
        events.unregister("before-call.dynamodb.Query", post_while_running)
    assert [(s["id"], s["status"]) for s in seen] == [(started["id"], "running")]
    assert len(invocations(recorded)) == 1

    state = status(api, started["id"])
    assert state["status"] == "ready"
    assert state["counts"] == {"goals": 2, "activities": 4, "attachments": 1}
    archive, _ = download(state["download_url"])
    assert len(read_json(archive, "activities.json")) == len(made["activities"])

    assert invoke(event) == "skipped"  # Lambda retries an event: nothing happens twice

    # Everything the export asked of AWS, the function's policy allows; and
    # it may invoke itself, no other function.
    assert not denied(recorded, aws_stack["user_pool_id"])
    asked = {action for call in recorded for action, _, _ in export_iam_requests(call)}
    assert {"lambda:InvokeFunction", "s3:PutObject", "s3:GetObject", "dynamodb:Query"} <= asked
    other = Call("lambda", "Invoke", {"FunctionName": "ai-lifestyle-app-prod"})
    assert denied([other], aws_stack["user_pool_id"])


def test_in_lambda_an_invocation_lambda_refuses_fails_the_job(
    in_lambda: None, api: APIClient, user: User
) -> None:
    events = client("lambda").meta.events
    throttled = failing(lambda request: True, "TooManyRequestsException", 429)
    events.register("before-call.lambda.Invoke", throttled)
    try:
        assert_error(api.post("/api/v1/me/export"), 503, "service_unavailable")
    finally:
        events.unregister("before-call.lambda.Invoke", throttled)
    latest = LatestExport.get(user_pk(user.user_id), exports.LATEST_SK)
    state = status(api, latest.export_id)
    assert (state["status"], state["error"]) == ("failed", "not_started")

    assert start(api)["id"] != latest.export_id  # the failed one does not block


# --- Costs and cold starts ---------------------------------------------------------------


def test_starting_costs_two_reads_and_one_transaction(
    in_lambda: None, api: APIClient, dynamo_calls: Any
) -> None:
    dynamo_calls.reset()
    start(api)  # the pointer (none yet), the transaction, the job as it is now
    calls = dynamo_calls()
    assert (calls.get("GetItem"), calls.get("TransactWriteItems")) == (2, 1)
    assert not {"Query", "Scan", "PutItem"} & set(calls)
    dynamo_calls.reset()
    start(api)  # pending already: two reads
    calls = dynamo_calls()
    assert (calls.get("GetItem"), calls.get("TransactWriteItems")) == (2, None)
    assert not {"Query", "Scan", "PutItem"} & set(calls)


def test_the_run_reads_a_page_per_query(api: APIClient, user: User, dynamo_calls: Any) -> None:
    seed(api)
    dynamo_calls.reset()
    with mock.patch.object(exports, "QUERY_PAGE", 2):
        start(api)
    # Goals: 2 of 2 (one more page says it is the end); activities: 4 in pages of 2.
    assert dynamo_calls()["Query"] == 2 + 3


def test_serving_requests_does_not_import_zappa_asynchronous() -> None:
    """It builds four boto3 clients when imported (~110 ms of a cold start):
    only an export started in Lambda may load it."""
    import subprocess
    import sys

    probe = (
        "import sys, django; django.setup(); import lifestyle.urls, accounts.export_apis; "
        "print('zappa.asynchronous' in sys.modules)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "lifestyle.settings.test"}
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False"]


def test_job_and_pointer_models_are_in_the_users_partition(user: User) -> None:
    job = ExportJob.key(user.user_id, "01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert (job.pk, job.sk) == (f"USER#{user.user_id}", "EXPORT#01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert exports.export_key(user.user_id, "X") == f"exports/{user.user_id}/X.zip"


def test_two_requests_at_once_start_one_export(
    in_lambda: None,
    api: APIClient,
    user: User,
    recorded: list[Call],  # noqa: F811
) -> None:
    """The second request reads no export, then the first commits its own
    before the second does: the second's transaction fails on the pointer's
    version, and it answers with the first's export."""
    inner: list[exports.ExportState] = []
    calls = []

    def other_request_first(**_: Any) -> None:
        calls.append(1)
        if len(calls) == 1:  # the outer request's transaction, not the inner's
            inner.append(exports.export_start(user_id=user.user_id)[0])

    from lifestyle import dynamo

    dynamo.TableItem._get_connection()
    events = dynamo._client.meta.events
    events.register("before-call.dynamodb.TransactWriteItems", other_request_first)
    try:
        outer = start(api)
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", other_request_first)

    assert [state.job.export_id for state in inner] == [outer["id"]]
    jobs = list(ExportJob.query(user_pk(user.user_id), ExportJob.sk.startswith("EXPORT#")))
    assert [job.export_id for job in jobs] == [outer["id"]]
    assert len(invocations(recorded)) == 1


def test_a_job_deleted_during_its_run_leaves_no_file(
    api: APIClient,
    user: User,
    storage_client: Any,
    aws_stack: dict[str, str],
    recorded: list[Call],  # noqa: F811
) -> None:
    """As when the user deletes their account while an export runs: the job
    item goes (accounts/deletion.py erases the partition), the run uploads,
    cannot mark the job ready, and takes every version of its file away."""

    def delete_the_job(params: dict[str, Any], **_: Any) -> None:
        export_id = params["Key"].rsplit("/", 1)[-1].removesuffix(".zip")
        ExportJob.key(user.user_id, export_id).delete(add_version_condition=False)

    storage_client.meta.events.register("before-parameter-build.s3.PutObject", delete_the_job)
    try:
        response = api.post("/api/v1/me/export")
    finally:
        storage_client.meta.events.unregister("before-parameter-build.s3.PutObject", delete_the_job)
    assert response.status_code == 202, response.content
    assert {"ListObjectVersions", "DeleteObjects"} <= {call.operation for call in recorded}
    assert not denied(recorded, aws_stack["user_pool_id"])
    assert stored_versions(user.user_id) == []  # no file, and no delete marker either
    assert_error(api.get(f"/api/v1/me/exports/{response.json()['id']}"), 404, "not_found")
