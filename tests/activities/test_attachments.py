"""Attachments on activities, through HTTP and the services, against moto's
S3 server. moto does not enforce presigned POST policies: the policy is
checked by decoding it, and files that break it are sent on purpose to show
that confirm refuses and removes them."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from botocore.exceptions import ClientError
from django.conf import settings
from pynamodb.attributes import UTCDateTimeAttribute
from rest_framework.test import APIClient

from activities.attachments import (
    ALLOWED_TYPES,
    MAX_PER_ACTIVITY,
    MAX_SIZE,
    attachment_files_delete,
    attachment_start,
    attachments_of,
)
from activities.models import Activity
from activities.selectors import activity_get
from activities.services import activity_delete, activity_log
from goals.services import goal_create
from lifestyle.aws import client
from lifestyle.dynamo import update_existing
from lifestyle.errors import ValidationFailed
from lifestyle.ids import new_ulid, normalize_id
from tests.conftest import User
from tests.goals.test_apis import assert_error

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # every byte value: any mangling shows


def url(activity_id: str, attachment_id: str = "", action: str = "") -> str:
    parts = [f"/api/v1/activities/{activity_id}/attachments", attachment_id, action]
    return "/".join(part for part in parts if part)


def new_activity(user_id: str) -> str:
    goal, _ = goal_create(user_id=user_id, title="Walk", kind="habit")
    activity, _ = activity_log(user_id=user_id, goal_id=goal.goal_id, occurred_at=datetime.now(UTC))
    return activity.activity_id


@pytest.fixture
def activity_id(user: User) -> str:
    return new_activity(user.user_id)


def start(
    api: APIClient, activity_id: str, content_type: str = "image/png", size: int = len(PNG)
) -> dict[str, Any]:
    response = api.post(url(activity_id), {"content_type": content_type, "size": size}, "json")
    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    return response.json()


def key_of(started: dict[str, Any]) -> str:
    return started["upload"]["fields"]["key"]


def upload(started: dict[str, Any], content: bytes = PNG, **field_changes: str) -> None:
    """Send ``content`` through the presigned POST, fields changed as told."""
    fields = {**started["upload"]["fields"], **field_changes}
    response = requests.post(
        started["upload"]["url"], data=fields, files={"file": ("photo", content)}, timeout=10
    )
    assert response.status_code == 204, response.text


def put(started: dict[str, Any], **options: Any) -> None:
    """Store a file at the issued key with the S3 client, no policy at all."""
    client("s3").put_object(
        Bucket=settings.AWS_STORAGE_BUCKET_NAME, Key=key_of(started), Body=PNG, **options
    )


def s3_status(key: str) -> int:
    try:
        client("s3").head_object(Bucket=settings.AWS_STORAGE_BUCKET_NAME, Key=key)
    except ClientError as error:
        return error.response["ResponseMetadata"]["HTTPStatusCode"]
    return 200


def confirm(api: APIClient, activity_id: str, started: dict[str, Any]) -> Any:
    return api.post(url(activity_id, started["id"], "confirm"))


def listed(api: APIClient, activity_id: str) -> list[dict[str, Any]]:
    response = api.get(url(activity_id))
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    return response.json()["items"]


def stored_ids(user_id: str, activity_id: str) -> set[str]:
    return set(attachments_of(activity_get(user_id=user_id, activity_id=activity_id)))


@pytest.fixture
def started(api: APIClient, activity_id: str) -> dict[str, Any]:
    return start(api, activity_id)


@pytest.fixture
def uploaded(started: dict[str, Any]) -> dict[str, Any]:
    upload(started)
    return started


# --- Start ---------------------------------------------------------------------


@pytest.mark.parametrize(("content_type", "extension"), ALLOWED_TYPES.items())
def test_start_gives_a_presigned_post_whose_policy_pins_the_upload(
    api: APIClient, user: User, activity_id: str, content_type: str, extension: str
) -> None:
    before = datetime.now(UTC)
    started = start(api, activity_id, content_type, size=1234)
    after = datetime.now(UTC)

    attachment_id = started["id"]
    assert normalize_id(attachment_id) == attachment_id
    key = f"users/{user.user_id}/activities/{activity_id}/{attachment_id}{extension}"
    policy = json.loads(base64.b64decode(started["upload"]["fields"]["policy"]))
    conditions = policy["conditions"]
    assert {"key": key} in conditions
    assert {"bucket": settings.AWS_STORAGE_BUCKET_NAME} in conditions
    assert {"Content-Type": content_type} in conditions
    assert ["content-length-range", 1234, 1234] in conditions
    assert {"x-amz-server-side-encryption": "AES256"} in conditions
    assert {"x-amz-algorithm": "AWS4-HMAC-SHA256"} in conditions
    expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    window = timedelta(minutes=15)
    assert before + window - timedelta(seconds=1) <= expiration <= after + window
    expires_at = datetime.fromisoformat(started["expires_at"].replace("Z", "+00:00"))
    assert expires_at <= expiration + timedelta(seconds=1)

    fields = started["upload"]["fields"]
    assert fields["key"] == key
    assert fields["Content-Type"] == content_type
    assert fields["x-amz-server-side-encryption"] == "AES256"
    assert started["upload"]["method"] == "POST"
    assert started["upload"]["url"].startswith(settings.AWS_S3_ENDPOINT_URL)
    assert started["content_type"] == content_type
    assert started["size"] == 1234
    assert started["status"] == "pending"
    assert started["max_size"] == MAX_SIZE
    assert stored_ids(user.user_id, activity_id) == {attachment_id}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content_type": "text/html", "size": 10}, "content_type"),
        ({"content_type": "image/png", "size": 0}, "size"),
        ({"content_type": "image/png", "size": MAX_SIZE + 1}, "size"),
        ({"content_type": "image/png", "size": "x"}, "size"),
        ({"content_type": "image/png", "size": "10"}, "size"),
        ({"content_type": "image/png", "size": 10.0}, "size"),
        ({"content_type": "image/png", "size": True}, "size"),
        ({"content_type": "image/png", "size": None}, "size"),
        ({"size": 10}, "content_type"),
        ({"content_type": "image/png"}, "size"),
        ({"content_type": "image/png", "size": 10, "key": "users/someone/x.png"}, "key"),
    ],
)
def test_start_refuses_bad_input(
    api: APIClient, user: User, activity_id: str, body: dict[str, Any], field: str
) -> None:
    assert_error(api.post(url(activity_id), body, "json"), 400, "validation_error", field)
    assert stored_ids(user.user_id, activity_id) == set()


@pytest.mark.parametrize(
    ("content_type", "size", "field"),
    [
        ("text/html", 10, "content_type"),
        ("image/png", 0, "size"),
        ("image/png", MAX_SIZE + 1, "size"),
        ("image/png", True, "size"),
    ],
)
def test_the_start_service_checks_type_and_size_itself(
    user: User, activity_id: str, content_type: str, size: int, field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        attachment_start(
            user_id=user.user_id, activity_id=activity_id, content_type=content_type, size=size
        )
    assert set(refused.value.fields or {}) == {field}


def test_an_activity_holds_at_most_ten_attachments(api: APIClient, activity_id: str) -> None:
    first = start(api, activity_id)
    for _ in range(MAX_PER_ACTIVITY - 1):
        start(api, activity_id)
    body = {"content_type": "image/png", "size": 10}
    assert_error(api.post(url(activity_id), body, "json"), 400, "too_many_attachments")

    assert api.delete(url(activity_id, first["id"])).status_code == 204
    start(api, activity_id)


def test_abandoned_uploads_make_room_for_new_ones(
    api: APIClient, user: User, activity_id: str
) -> None:
    abandoned, *others = [start(api, activity_id) for _ in range(MAX_PER_ACTIVITY)]
    upload(abandoned)  # uploaded but never confirmed
    an_hour_ago = UTCDateTimeAttribute().serialize(datetime.now(UTC) - timedelta(hours=1))
    update_existing(
        activity_get(user_id=user.user_id, activity_id=activity_id),
        [Activity.attachments[abandoned["id"]]["created_at"].set(an_hour_ago)],
    )

    newest = start(api, activity_id)

    assert stored_ids(user.user_id, activity_id) == {s["id"] for s in [*others, newest]}
    assert s3_status(key_of(abandoned)) == 404


# --- Upload, confirm, list, delete ---------------------------------------------------


def test_an_uploaded_file_confirms_lists_and_downloads_intact(
    api: APIClient, activity_id: str, started: dict[str, Any]
) -> None:
    upload(started)
    assert listed(api, activity_id) == []  # pending: not listed

    confirmed = confirm(api, activity_id, started)
    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json() == {
        "id": started["id"],
        "content_type": "image/png",
        "size": len(PNG),
        "status": "ready",
        "created_at": started["created_at"],
    }
    again = confirm(api, activity_id, started)
    assert (again.status_code, again.json()) == (200, confirmed.json())

    [item] = listed(api, activity_id)
    assert {name: value for name, value in item.items() if name != "download_url"} == (
        confirmed.json()
    )
    query = parse_qs(urlsplit(item["download_url"]).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["300"]
    download = requests.get(item["download_url"], timeout=10)
    assert download.status_code == 200
    assert download.content == PNG


def test_confirm_before_upload_is_a_conflict_and_the_upload_can_follow(
    api: APIClient, activity_id: str, started: dict[str, Any]
) -> None:
    assert_error(confirm(api, activity_id, started), 409, "upload_missing")
    upload(started)
    assert confirm(api, activity_id, started).json()["status"] == "ready"


Send = Callable[[dict[str, Any]], None]


def by_form(content: bytes = PNG, fields: dict[str, str] | None = None) -> Send:
    return lambda started: upload(started, content, **(fields or {}))


def by_put(**options: str) -> Send:
    return lambda started: put(started, **options)


@pytest.mark.parametrize(
    ("send", "field"),
    [
        pytest.param(by_form(fields={"Content-Type": "text/html"}), "content_type", id="form-type"),
        pytest.param(by_form(PNG + b"!"), "size", id="form-too-big"),
        pytest.param(by_form(PNG[:-1]), "size", id="form-too-small"),
        pytest.param(
            by_put(ContentType="image/gif", ServerSideEncryption="AES256"),
            "content_type",
            id="put-type",
        ),
        pytest.param(
            by_put(ContentType="image/png", ServerSideEncryption="aws:kms"),
            "encryption",
            id="put-kms",
        ),
    ],
)
def test_confirm_refuses_and_removes_a_file_that_slipped_past_the_policy(
    api: APIClient, user: User, activity_id: str, started: dict[str, Any], send: Send, field: str
) -> None:
    send(started)
    assert s3_status(key_of(started)) == 200

    error = assert_error(confirm(api, activity_id, started), 400, "upload_rejected", field)

    assert set(error["fields"]) == {field}
    assert s3_status(key_of(started)) == 404
    assert stored_ids(user.user_id, activity_id) == set()
    assert_error(confirm(api, activity_id, started), 404, "not_found")


def test_confirm_never_touches_a_file_outside_the_callers_prefix(
    api: APIClient, user: User, other_user: User, activity_id: str, started: dict[str, Any]
) -> None:
    theirs = start(other_user.client(), new_activity(other_user.user_id))
    upload(theirs)
    update_existing(  # a record pointing at someone else's file
        activity_get(user_id=user.user_id, activity_id=activity_id),
        [Activity.attachments[started["id"]]["key"].set(key_of(theirs))],
    )

    assert_error(confirm(api, activity_id, started), 400, "upload_rejected", "key")

    assert s3_status(key_of(theirs)) == 200
    assert stored_ids(user.user_id, activity_id) == set()


def test_delete_removes_the_file_and_the_record(
    api: APIClient, user: User, activity_id: str, uploaded: dict[str, Any]
) -> None:
    assert confirm(api, activity_id, uploaded).status_code == 200

    assert api.delete(url(activity_id, uploaded["id"])).status_code == 204

    assert s3_status(key_of(uploaded)) == 404
    assert stored_ids(user.user_id, activity_id) == set()
    assert listed(api, activity_id) == []
    assert_error(api.delete(url(activity_id, uploaded["id"])), 404, "not_found")


def test_files_delete_removes_every_file_of_the_activity_only(
    api: APIClient, user: User, activity_id: str, uploaded: dict[str, Any]
) -> None:
    assert confirm(api, activity_id, uploaded).status_code == 200
    pending = start(api, activity_id, "application/pdf", len(PNG))
    upload(pending)  # uploaded, never confirmed
    orphan = f"users/{user.user_id}/activities/{activity_id}/{new_ulid()}.png"
    client("s3").put_object(Bucket=settings.AWS_STORAGE_BUCKET_NAME, Key=orphan, Body=PNG)
    elsewhere = start(api, new_activity(user.user_id))
    upload(elsewhere)

    deleted = activity_delete(user_id=user.user_id, activity_id=activity_id, expected_version=None)
    attachment_files_delete(activity=deleted)

    for key in (key_of(uploaded), key_of(pending), orphan):
        assert s3_status(key) == 404, key
    assert s3_status(key_of(elsewhere)) == 200


# --- Who may reach what -----------------------------------------------------------

START_BODY = {"content_type": "image/png", "size": 10}
PathFor = Callable[[str, str], str]
ROUTES = [
    pytest.param("post", lambda a, _: url(a), id="start"),
    pytest.param("get", lambda a, _: url(a), id="list"),
    pytest.param("post", lambda a, i: url(a, i, "confirm"), id="confirm"),
    pytest.param("delete", lambda a, i: url(a, i), id="delete"),
]
ATTACHMENT_ROUTES = ROUTES[2:]


def call(api: APIClient, method: str, path: str) -> Any:
    if method == "post":
        return api.post(path, START_BODY, "json")
    return getattr(api, method)(path)


@pytest.mark.parametrize(("method", "path_for"), ROUTES)
def test_another_users_activity_is_not_found(
    api: APIClient,
    other_user: User,
    activity_id: str,
    uploaded: dict[str, Any],
    method: str,
    path_for: PathFor,
) -> None:
    response = call(other_user.client(), method, path_for(activity_id, uploaded["id"]))
    assert_error(response, 404, "not_found")
    # Nothing happened to the owner's attachment.
    assert confirm(api, activity_id, uploaded).status_code == 200
    assert len(listed(api, activity_id)) == 1


@pytest.mark.parametrize(("method", "path_for"), ATTACHMENT_ROUTES)
def test_another_users_attachment_is_not_found_under_ones_own_activity(
    api: APIClient,
    other_user: User,
    activity_id: str,
    uploaded: dict[str, Any],
    method: str,
    path_for: PathFor,
) -> None:
    own_activity = new_activity(other_user.user_id)
    response = call(other_user.client(), method, path_for(own_activity, uploaded["id"]))
    assert_error(response, 404, "not_found")
    assert confirm(api, activity_id, uploaded).status_code == 200


@pytest.mark.parametrize(("method", "path_for"), ROUTES)
@pytest.mark.parametrize("unknown", ["not-an-id", "unknown-ulid"])
def test_unknown_activities_are_not_found(
    api: APIClient, method: str, path_for: PathFor, unknown: str
) -> None:
    activity_id = new_ulid() if unknown == "unknown-ulid" else unknown
    assert_error(call(api, method, path_for(activity_id, new_ulid())), 404, "not_found")


@pytest.mark.parametrize(("method", "path_for"), ATTACHMENT_ROUTES)
@pytest.mark.parametrize("unknown", ["not-an-id", "unknown-ulid"])
def test_unknown_attachments_are_not_found(
    api: APIClient, activity_id: str, method: str, path_for: PathFor, unknown: str
) -> None:
    attachment_id = new_ulid() if unknown == "unknown-ulid" else unknown
    assert_error(call(api, method, path_for(activity_id, attachment_id)), 404, "not_found")


@pytest.mark.parametrize(("method", "path_for"), ROUTES)
def test_a_request_without_a_token_is_401(
    anonymous: APIClient, activity_id: str, method: str, path_for: PathFor
) -> None:
    response = call(anonymous, method, path_for(activity_id, new_ulid()))
    assert_error(response, 401, "not_authenticated")


def test_the_schema_documents_every_attachment_operation() -> None:
    schema = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    operations = {
        operation["operationId"]: operation
        for path in schema.json()["paths"].values()
        for operation in path.values()
    }
    error = {"$ref": "#/components/schemas/Error"}
    expected = {
        "start_attachment_upload": ("201", "AttachmentUpload"),
        "list_attachments": ("200", "AttachmentList"),
        "confirm_attachment": ("200", "Attachment"),
        "delete_attachment": ("204", None),
    }
    for operation_id, (success, component) in expected.items():
        responses = operations[operation_id]["responses"]
        for status in ("401", "404"):
            assert responses[status]["content"]["application/json"]["schema"] == error
        if component:
            content = responses[success]["content"]["application/json"]["schema"]
            assert content == {"$ref": f"#/components/schemas/{component}"}, operation_id
        else:
            assert "content" not in responses[success]
