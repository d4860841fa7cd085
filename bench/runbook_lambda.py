"""Baseline (b): the runbook's design, one plain Lambda function per route,
boto3 only: list_goals as a bare handler running the same DynamoDB Query."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

# The runbook's advice: build clients outside the handler.
dynamodb = boto3.client("dynamodb", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
TABLE = os.environ["DYNAMODB_TABLE"]


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    user_id = event["requestContext"]["authorizer"]["claims"]["sub"]
    response = dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :goal)",
        ExpressionAttributeValues={":pk": {"S": f"USER#{user_id}"}, ":goal": {"S": "GOAL#"}},
        Limit=20,
        ScanIndexForward=False,
    )
    return {"statusCode": 200, "body": json.dumps({"count": response["Count"]})}
