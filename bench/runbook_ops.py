"""The baseline's code: the runbook's eight operations written as its
functions are, plain boto3 on the low-level client, no framework, no
serializers, the user id taken as API Gateway's Cognito authorizer hands it.

Each makes the same DynamoDB calls our API makes for that operation (the
same keys, item shapes and conditions, checked by ``bench/warm.py`` against
a recording of ours), so that the two differ only in the code around the
calls. That includes the per-user rate-limit counter, which the runbook has
no equivalent of but which every one of our requests writes.

Used twice: as one Lambda handler per route (:func:`lambda_handler`, the
runbook's design) and inside a bare Django + DRF view
(``bench/bare_urls.py``), for the two comparisons of ``bench/warm.py``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer
from botocore.config import Config

TABLE = os.environ.get("DYNAMODB_TABLE", "bench-goals")
_client: Any = None
_deserializer = TypeDeserializer()
Params = dict[str, Any]


# Ours asks DynamoDB what each call consumed (PynamoDB does, for its log);
# so does the baseline, to make the same calls.
CAPACITY = {"ReturnConsumedCapacity": "TOTAL"}


def client() -> Any:
    """Built once per container, outside the handler, as the runbook advises."""
    global _client
    if _client is None:
        _client = boto3.client(
            "dynamodb",
            endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
            config=Config(retries={"mode": "standard", "max_attempts": 3}),
        )
    return _client


def plain(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


def _key(user_id: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": f"USER#{user_id}"}, "sk": {"S": sk}}


def count_request(user_id: str, scope: str) -> None:
    """The same counter write as lifestyle.ratelimit, every request."""
    seconds = 60
    now = math.floor(time.time())
    offset = zlib.crc32(user_id.encode()) % seconds
    start = (now - offset) // seconds * seconds + offset
    client().update_item(
        TableName=TABLE,
        Key={"pk": {"S": f"RATE#{user_id}"}, "sk": {"S": f"LIMIT#{scope}#{seconds}#{start}"}},
        UpdateExpression="SET expires_at = :end, #type = :type ADD hits :one",
        ExpressionAttributeNames={"#type": "type"},
        ExpressionAttributeValues={
            ":end": {"N": str(start + seconds)},
            ":type": {"S": "RateCounter"},
            ":one": {"N": "1"},
        },
        ReturnValues="UPDATED_NEW",
        **CAPACITY,
    )


def new_id() -> str:
    return uuid.uuid4().hex.upper()[:26]


def create_goal(user_id: str, body: Params) -> tuple[int, Any]:
    goal_id = new_id()
    stamp = _now()
    item = {
        **_key(user_id, f"GOAL#{goal_id}"),
        "category": {"S": body.get("category", "")},
        "created_at": {"S": stamp},
        "day_start_hour": {"N": str(body.get("day_start_hour", 0))},
        "description": {"S": body.get("description", "")},
        "goal_id": {"S": goal_id},
        "kind": {"S": body["kind"]},
        "period": {"S": body.get("period", "none")},
        "request_hash": {"S": hashlib.sha256(json.dumps(body).encode()).hexdigest()},
        "schema_version": {"N": "1"},
        "start_date": {"S": stamp[:10]},
        "status": {"S": "active"},
        "sync_pk": {"S": f"USER#{user_id}"},
        "target": {"N": str(body["target"])},
        "timezone": {"S": body.get("timezone", "UTC")},
        "title": {"S": body["title"]},
        "type": {"S": "Goal"},
        "unit": {"S": body.get("unit", "")},
        "updated_at": {"S": stamp},
        "user_id": {"S": user_id},
        "week_start": {"S": body.get("week_start", "monday")},
        "version": {"N": "1"},
    }
    client().put_item(
        TableName=TABLE,
        Item=item,
        ConditionExpression="attribute_not_exists(pk) AND attribute_not_exists(version)",
        **CAPACITY,
    )
    return 201, plain(item)


def get_goal(user_id: str, goal_id: str) -> tuple[int, Any]:
    found = client().get_item(TableName=TABLE, Key=_key(user_id, f"GOAL#{goal_id}"), **CAPACITY)
    if "Item" not in found:
        return 404, {"error": "not found"}
    return 200, plain(found["Item"])


def list_goals(user_id: str) -> tuple[int, Any]:
    page = client().query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :goal)",
        FilterExpression="#type IN (:type)",
        ExpressionAttributeNames={"#type": "type"},
        ExpressionAttributeValues={
            ":pk": {"S": f"USER#{user_id}"},
            ":goal": {"S": "GOAL#"},
            ":type": {"S": "Goal"},
        },
        Limit=20,
        ScanIndexForward=False,
        **CAPACITY,
    )
    return 200, {"items": [plain(item) for item in page["Items"]]}


def update_goal(user_id: str, goal_id: str, version: int, body: Params) -> tuple[int, Any]:
    updated = client().update_item(
        TableName=TABLE,
        Key=_key(user_id, f"GOAL#{goal_id}"),
        ConditionExpression="attribute_exists(pk) AND version = :version",
        UpdateExpression="SET sync_pk = :sync, title = :title, updated_at = :now ADD version :one",
        ExpressionAttributeValues={
            ":version": {"N": str(version)},
            ":sync": {"S": f"USER#{user_id}"},
            ":title": {"S": body["title"]},
            ":now": {"S": _now()},
            ":one": {"N": "1"},
        },
        ReturnValues="ALL_NEW",
        **CAPACITY,
    )
    return 200, plain(updated["Attributes"])


def archive_goal(user_id: str, goal_id: str, version: int) -> tuple[int, Any]:
    stamp = _now()
    updated = client().update_item(
        TableName=TABLE,
        Key=_key(user_id, f"GOAL#{goal_id}"),
        ConditionExpression="attribute_exists(pk) AND #status <> :archived AND version = :version",
        UpdateExpression=(
            "SET #status = :archived, archived_at = :now, sync_pk = :sync, updated_at = :now "
            "ADD version :one"
        ),
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":archived": {"S": "archived"},
            ":version": {"N": str(version)},
            ":now": {"S": stamp},
            ":sync": {"S": f"USER#{user_id}"},
            ":one": {"N": "1"},
        },
        ReturnValues="ALL_NEW",
        **CAPACITY,
    )
    return 200, plain(updated["Attributes"])


def _aggregate(
    user_id: str, sk: str, old: dict[str, Any] | None, value: Decimal, extra: dict[str, Any]
) -> dict[str, Any]:
    """The progress or bucket item after one more activity, guarded by its version."""
    version = int(old["version"]["N"]) if old else 0
    count = int(old["activity_count"]["N"]) if old else 0
    total = Decimal(old["total"]["N"]) if old else Decimal(0)
    stamp = _now()
    item = {
        **_key(user_id, sk),
        "activity_count": {"N": str(count + 1)},
        "created_at": old["created_at"] if old else {"S": stamp},
        "schema_version": {"N": "1"},
        "total": {"N": str(total + value)},
        "updated_at": {"S": stamp},
        "version": {"N": str(version + 1)},
        **extra,
    }
    put: dict[str, Any] = {"TableName": TABLE, "Item": item}
    if old:
        put["ConditionExpression"] = "version = :version"
        put["ExpressionAttributeValues"] = {":version": {"N": str(version)}}
    else:
        put["ConditionExpression"] = "attribute_not_exists(version)"
    return {"Put": put}


def log_activity(user_id: str, goal_id: str, body: Params) -> tuple[int, Any]:
    """The goal, its progress and this week's bucket in one read (as ours
    reads a goal it has seen before), then one transaction."""
    dynamodb = client()
    occurred = datetime.fromisoformat(body["occurred_at"].replace("Z", "+00:00"))
    year, week, _ = occurred.isocalendar()
    period_key = f"{year}-W{week:02d}"
    bucket_sk = f"BUCKET#{goal_id}#{period_key}"
    found = dynamodb.batch_get_item(
        RequestItems={
            TABLE: {
                "ConsistentRead": True,
                "Keys": [
                    _key(user_id, f"PROGRESS#{goal_id}"),
                    _key(user_id, f"GOAL#{goal_id}"),
                    _key(user_id, bucket_sk),
                ],
            }
        },
        **CAPACITY,
    )["Responses"][TABLE]
    items = {item["sk"]["S"]: item for item in found}
    goal = items.get(f"GOAL#{goal_id}")
    if goal is None:
        return 404, {"error": "not found"}
    activity_id = new_id()
    stamp = _now()
    moment = occurred.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    value = Decimal(body["value"])
    activity = {
        **_key(user_id, f"ACTIVITY#{activity_id}"),
        "activity_id": {"S": activity_id},
        "attachments": {"M": {}},
        "created_at": {"S": stamp},
        "goal_id": {"S": goal_id},
        "goal_time": {"S": f"{goal_id}#{moment}#{activity_id}"},
        "local_date": {"S": occurred.date().isoformat()},
        "note": {"S": body.get("note", "")},
        "occurred_at": {"S": occurred.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")},
        "period_key": {"S": period_key},
        "request_hash": {"S": hashlib.sha256(json.dumps(body).encode()).hexdigest()},
        "schema_version": {"N": "1"},
        "sync_pk": {"S": f"USER#{user_id}"},
        "time_key": {"S": f"{moment}#{activity_id}"},
        "type": {"S": "Activity"},
        "updated_at": {"S": stamp},
        "user_id": {"S": user_id},
        "value": {"N": str(value)},
        "version": {"N": "1"},
    }
    progress = _aggregate(
        user_id,
        f"PROGRESS#{goal_id}",
        items.get(f"PROGRESS#{goal_id}"),
        value,
        {
            "goal_id": {"S": goal_id},
            "last_activity_at": activity["occurred_at"],
            "met_runs": {"S": "[]"},
            "type": {"S": "GoalProgress"},
        },
    )
    bucket = _aggregate(
        user_id,
        bucket_sk,
        items.get(bucket_sk),
        value,
        {"goal_id": {"S": goal_id}, "period_key": {"S": period_key}, "type": {"S": "PeriodBucket"}},
    )
    dynamodb.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": TABLE,
                    "Item": activity,
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "ConditionCheck": {
                    "TableName": TABLE,
                    "Key": _key(user_id, f"GOAL#{goal_id}"),
                    "ConditionExpression": "attribute_exists(pk) AND #status <> :archived",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {":archived": {"S": "archived"}},
                }
            },
            progress,
            bucket,
        ],
        **CAPACITY,
    )
    return 201, plain(activity)


def list_activities(user_id: str, goal_id: str) -> tuple[int, Any]:
    page = client().query(
        TableName=TABLE,
        IndexName="by_goal_time",
        KeyConditionExpression="pk = :pk AND begins_with(goal_time, :goal)",
        FilterExpression="#type IN (:type)",
        ExpressionAttributeNames={"#type": "type"},
        ExpressionAttributeValues={
            ":pk": {"S": f"USER#{user_id}"},
            ":goal": {"S": f"{goal_id}#"},
            ":type": {"S": "Activity"},
        },
        Limit=20,
        ScanIndexForward=False,
        **CAPACITY,
    )
    if not page["Items"]:  # an empty page: is there such a goal at all?
        status, goal = get_goal(user_id, goal_id)
        if status == 404:
            return status, goal
    return 200, {"items": [plain(item) for item in page["Items"]]}


def get_progress(user_id: str, goal_id: str) -> tuple[int, Any]:
    dynamodb = client()
    status, goal = get_goal(user_id, goal_id)
    if status == 404:
        return status, goal
    week = datetime.now(UTC).isocalendar()
    keys = [
        _key(user_id, f"PROGRESS#{goal_id}"),
        _key(user_id, f"BUCKET#{goal_id}#{week[0]}-W{week[1]:02d}"),
    ]
    found = dynamodb.batch_get_item(RequestItems={TABLE: {"Keys": keys}}, **CAPACITY)
    found = found["Responses"][TABLE]
    return 200, {"goal": goal, "items": [plain(item) for item in found]}


# --- One Lambda function per route -------------------------------------------

Handler = Callable[[str, dict[str, str], Params], tuple[int, Any]]
ROUTES: dict[str, tuple[str, Handler]] = {
    "create_goal": ("write", lambda user, path, body: create_goal(user, body)),
    "get_goal": ("read", lambda user, path, body: get_goal(user, path["goal_id"])),
    "list_goals": ("read", lambda user, path, body: list_goals(user)),
    "update_goal": (
        "write",
        lambda user, path, body: update_goal(user, path["goal_id"], int(path["version"]), body),
    ),
    "archive_goal": (
        "write",
        lambda user, path, body: archive_goal(user, path["goal_id"], int(path["version"])),
    ),
    "log_activity": ("write", lambda user, path, body: log_activity(user, path["goal_id"], body)),
    "list_activities": ("read", lambda user, path, body: list_activities(user, path["goal_id"])),
    "get_progress": ("read", lambda user, path, body: get_progress(user, path["goal_id"])),
}


def respond(status: int, body: Any) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, default=str),
    }


def handle(operation: str, user_id: str, path: dict[str, str], body: Params) -> tuple[int, Any]:
    scope, function = ROUTES[operation]
    count_request(user_id, scope)
    return function(user_id, path, body)


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """One of the runbook's functions: which one is the event's ``operation``
    (in the runbook, each is its own deployment)."""
    user_id = event["requestContext"]["authorizer"]["claims"]["sub"]
    body = json.loads(event["body"]) if event.get("body") else {}
    status, payload = handle(event["operation"], user_id, event.get("pathParameters") or {}, body)
    return respond(status, payload)
