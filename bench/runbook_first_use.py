"""The runbook's design for a new user's first minutes: one plain Lambda
function per route, boto3 only. These are the four functions the first-use
flow touches (bench/first_use.py runs each in its own fresh process, as each
would get its own container), doing that route's DynamoDB calls on the
table's item layout and nothing more:

- ``create_goal``: one PutItem of the goal item;
- ``log_activity``: one TransactWriteItems that checks the goal, puts the
  activity and adds its value to the goal's progress item;
- ``get_progress``: GetItem of the goal, BatchGetItem of its progress item
  and the current week's bucket;
- ``list_activities``: one Query of the goal's activities, newest first.

They trust the user id API Gateway's Cognito authorizer puts in the event
(``requestContext.authorizer.claims.sub``): in the runbook's design the
token is checked before Lambda runs. They do less than our app does for
the same routes (no version guards, no period buckets written, hardly any
validation), which can only flatter the runbook.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import boto3

# The runbook's advice: build clients outside the handler.
dynamodb = boto3.client("dynamodb", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
TABLE = os.environ["DYNAMODB_TABLE"]
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

Event = dict[str, Any]
Response = dict[str, Any]


def _user_pk(event: Event) -> str:
    return f"USER#{event['requestContext']['authorizer']['claims']['sub']}"


def _goal_id(event: Event) -> str:
    return str(event["pathParameters"]["goal_id"])


def _body(event: Event) -> dict[str, Any]:
    return dict(json.loads(event.get("body") or "{}"))


def _respond(status: int, body: object) -> Response:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, default=str),
    }


def _now() -> str:
    return datetime.now(UTC).strftime(TIME_FORMAT)


def create_goal(event: Event, context: object) -> Response:
    data = _body(event)
    try:
        target = Decimal(str(data["target"]))
    except (KeyError, InvalidOperation):
        return _respond(400, {"error": "target must be a number"})
    goal_id = str(uuid.uuid4())
    now = _now()
    item = {
        "pk": {"S": _user_pk(event)},
        "sk": {"S": f"GOAL#{goal_id}"},
        "type": {"S": "Goal"},
        "goal_id": {"S": goal_id},
        "title": {"S": str(data.get("title", ""))},
        "kind": {"S": str(data.get("kind", "amount"))},
        "target": {"N": str(target)},
        "period": {"S": str(data.get("period", "none"))},
        "timezone": {"S": str(data.get("timezone", "UTC"))},
        "week_start": {"S": str(data.get("week_start", "monday"))},
        "day_start_hour": {"N": str(int(data.get("day_start_hour", 0)))},
        "status": {"S": "active"},
        "created_at": {"S": now},
        "updated_at": {"S": now},
        "version": {"N": "1"},
    }
    dynamodb.put_item(TableName=TABLE, Item=item, ConditionExpression="attribute_not_exists(pk)")
    return _respond(201, {"id": goal_id, "title": item["title"]["S"], "created_at": now})


def log_activity(event: Event, context: object) -> Response:
    data = _body(event)
    try:
        value = Decimal(str(data["value"]))
        occurred = datetime.fromisoformat(str(data["occurred_at"]).replace("Z", "+00:00"))
    except (KeyError, InvalidOperation, ValueError):
        return _respond(400, {"error": "value and occurred_at are required"})
    pk, goal_id = _user_pk(event), _goal_id(event)
    activity_id = str(uuid.uuid4())
    stamp = occurred.astimezone(UTC).strftime(TIME_FORMAT)
    now = _now()
    try:
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": pk}, "sk": {"S": f"GOAL#{goal_id}"}},
                        "ConditionExpression": "#status = :active",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": {":active": {"S": "active"}},
                    }
                },
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": {
                            "pk": {"S": pk},
                            "sk": {"S": f"ACTIVITY#{activity_id}"},
                            "type": {"S": "Activity"},
                            "activity_id": {"S": activity_id},
                            "goal_id": {"S": goal_id},
                            "value": {"N": str(value)},
                            "occurred_at": {"S": stamp},
                            "time_key": {"S": f"{stamp}#{activity_id}"},
                            "goal_time": {"S": f"{goal_id}#{stamp}#{activity_id}"},
                            "created_at": {"S": now},
                            "updated_at": {"S": now},
                            "version": {"N": "1"},
                        },
                    }
                },
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": pk}, "sk": {"S": f"PROGRESS#{goal_id}"}},
                        "UpdateExpression": (
                            "SET #type = :type, goal_id = :goal, last_activity_at = :now "
                            "ADD #total :value, activity_count :one"
                        ),
                        "ExpressionAttributeNames": {"#type": "type", "#total": "total"},
                        "ExpressionAttributeValues": {
                            ":type": {"S": "GoalProgress"},
                            ":goal": {"S": goal_id},
                            ":now": {"S": now},
                            ":value": {"N": str(value)},
                            ":one": {"N": "1"},
                        },
                    }
                },
            ]
        )
    except dynamodb.exceptions.TransactionCanceledException:
        return _respond(404, {"error": "no such active goal"})
    return _respond(201, {"id": activity_id, "goal_id": goal_id, "value": str(value)})


def get_progress(event: Event, context: object) -> Response:
    pk, goal_id = _user_pk(event), _goal_id(event)
    goal = dynamodb.get_item(
        TableName=TABLE,
        Key={"pk": {"S": pk}, "sk": {"S": f"GOAL#{goal_id}"}},
        ConsistentRead=True,
    ).get("Item")
    if goal is None:
        return _respond(404, {"error": "no such goal"})
    year, week, _ = datetime.now(UTC).isocalendar()
    keys = [
        {"pk": {"S": pk}, "sk": {"S": f"PROGRESS#{goal_id}"}},
        {"pk": {"S": pk}, "sk": {"S": f"BUCKET#{goal_id}#{year}-W{week:02d}"}},
    ]
    found = dynamodb.batch_get_item(RequestItems={TABLE: {"Keys": keys, "ConsistentRead": True}})[
        "Responses"
    ][TABLE]
    by_sk = {item["sk"]["S"]: item for item in found}
    progress = by_sk.get(f"PROGRESS#{goal_id}", {})
    total = Decimal(progress.get("total", {}).get("N", "0"))
    target = Decimal(goal["target"]["N"])
    return _respond(
        200,
        {
            "goal_id": goal_id,
            "total": str(total),
            "target": str(target),
            "percent": str(round(total * 100 / target, 2)) if target else None,
            "activity_count": int(progress.get("activity_count", {}).get("N", "0")),
        },
    )


def list_activities(event: Event, context: object) -> Response:
    pk, goal_id = _user_pk(event), _goal_id(event)
    found = dynamodb.query(
        TableName=TABLE,
        IndexName="by_goal_time",
        KeyConditionExpression="pk = :pk AND begins_with(goal_time, :goal)",
        ExpressionAttributeValues={":pk": {"S": pk}, ":goal": {"S": f"{goal_id}#"}},
        ScanIndexForward=False,
        Limit=20,
    )
    items = [
        {
            "id": item["activity_id"]["S"],
            "value": item["value"]["N"],
            "occurred_at": item["occurred_at"]["S"],
        }
        for item in found["Items"]
    ]
    return _respond(200, {"items": items})


HANDLERS: dict[str, Callable[[Event, object], Response]] = {
    "create_goal": create_goal,
    "log_activity": log_activity,
    "get_progress": get_progress,
    "list_activities": list_activities,
}
