"""One cold start: run in a fresh process by bench/cold_start.py.

Imports a handler and serves one request through it, as a new Lambda
container would, then exits. ``python bench/cold_probe.py VARIANT``; the
request's details come from the environment the benchmark sets."""

from __future__ import annotations

import json
import os
import sys


def api_gateway_event(path: str) -> dict[str, object]:
    host = "abc123.execute-api.us-east-1.amazonaws.com"
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "GET",
        "headers": {
            "Host": host,
            "Authorization": f"Bearer {os.environ.get('BENCH_TOKEN', '')}",
            "X-Forwarded-Proto": "https",
        },
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "stage": "dev",
            "path": f"/dev{path}",
            "httpMethod": "GET",
            "requestId": "bench",
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": {"claims": {"sub": os.environ.get("BENCH_USER_ID", "")}},
        },
        "body": None,
        "isBase64Encoded": False,
    }


def main(variant: str) -> int:
    event = api_gateway_event("/api/v1/goals")
    if variant == "runbook":
        from bench.runbook_lambda import handler

        response = handler(event, None)
    else:
        from zappa.handler import lambda_handler

        response = lambda_handler(event, None)
    status = int(response["statusCode"])
    if status != 200:
        print(json.dumps(response)[:500], file=sys.stderr)
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
