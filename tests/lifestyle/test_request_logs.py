"""The request log: one JSON line per request on ``lifestyle.request``.

Requests go through the real API (DRF, Cognito tokens, moto); each test
reads the records pytest captured and formats them with the formatter
LOGGING configures, so what is checked is the line CloudWatch would hold.
The Lambda request id through Zappa's handler is checked in
tests/lambda_handler/test_request_log.py.
"""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from lifestyle import aws
from lifestyle.request_log import JsonFormatter
from tests.conftest import DynamoCalls, User
from tests.lifestyle.test_throttling import THROTTLING, Throttle, dynamodb_clients

GOALS = "/api/v1/goals"
ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
FIELDS = {
    "time", "level", "logger", "message", "request_id", "trace_id", "user_id", "method",
    "path", "route", "status", "error_code", "duration_ms", "dynamodb_calls",
    "dynamodb_retries",
}  # fmt: skip


class Written:
    """What the root logger's JSON handler writes, as LOGGING sets it up:
    records formatted when logged, one line each."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(JsonFormatter())

    def __call__(self, logger: str = "lifestyle.request") -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in self.stream.getvalue().splitlines()]
        return [line for line in lines if line["logger"] == logger]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[Written]:
    caplog.set_level(logging.INFO, logger="lifestyle.request")
    written = Written()
    root = logging.getLogger()
    root.addHandler(written.handler)
    yield written
    root.removeHandler(written.handler)


def only(lines: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(lines) == 1, lines
    return lines[0]


def goal_body(**fields: Any) -> dict[str, Any]:
    return {"title": "Run 100 km", "kind": "amount", "target": "100", "unit": "km", **fields}


def test_a_request_gets_one_line_with_its_fields(api: APIClient, user: User, logs: Written) -> None:
    response = api.post(GOALS, goal_body(), format="json")

    line = only(logs())
    assert "\n" not in logs.stream.getvalue().rstrip("\n")  # one line
    assert set(line) == FIELDS
    assert ULID.fullmatch(line["request_id"])
    assert response["X-Request-Id"] == line["request_id"]
    assert line["level"] == "INFO"
    assert line["logger"] == "lifestyle.request"
    assert line["message"] == "POST api/v1/goals 201"
    assert line["user_id"] == user.user_id
    assert (line["method"], line["path"], line["route"], line["status"]) == (
        "POST", GOALS, "api/v1/goals", 201,
    )  # fmt: skip
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] > 0
    assert line["dynamodb_calls"] >= 1  # counted exactly below
    assert datetime.fromisoformat(line["time"]).tzinfo is not None


def test_the_path_has_no_query_string_and_the_route_names_the_pattern(
    api: APIClient, logs: Written
) -> None:
    goal_id = api.post(GOALS, goal_body(), format="json").json()["id"]
    api.get(GOALS, {"status": "active", "limit": "5", "cursor": "private-looking-value"})
    api.get(f"{GOALS}/{goal_id}")

    created, listed, fetched = logs()
    assert listed["path"] == GOALS
    assert "private-looking-value" not in json.dumps(listed)
    assert (fetched["path"], fetched["route"]) == (
        f"{GOALS}/{goal_id}",
        "api/v1/goals/<str:goal_id>",
    )
    assert len({created["request_id"], listed["request_id"], fetched["request_id"]}) == 3


def test_an_anonymous_request_and_an_unknown_url_are_logged_too(
    anonymous: APIClient, logs: Written
) -> None:
    anonymous.get(GOALS)
    anonymous.get("/api/v1/nowhere")
    anonymous.get("/api/v1/health")

    refused, missing, health = logs()
    assert (refused["status"], refused["user_id"]) == (401, None)
    assert refused["error_code"] == "not_authenticated"
    assert (missing["status"], missing["route"], missing["message"]) == (
        404, None, "GET (no route) 404",
    )  # fmt: skip
    assert missing["error_code"] == "not_found"  # Django's handler404, a JsonResponse
    assert (health["status"], health["dynamodb_calls"], health["error_code"]) == (200, 0, None)


def test_a_well_formed_x_request_id_is_kept_and_any_other_replaced(
    api: APIClient, logs: Written
) -> None:
    given = api.get(GOALS, HTTP_X_REQUEST_ID="support-case-42.1")
    forged = api.get(GOALS, HTTP_X_REQUEST_ID='x"}\n{"status": 200')
    too_long = api.get(GOALS, HTTP_X_REQUEST_ID="a" * 129)

    kept, replaced, replaced_too = logs()
    assert given["X-Request-Id"] == kept["request_id"] == "support-case-42.1"
    assert ULID.fullmatch(replaced["request_id"])
    assert ULID.fullmatch(replaced_too["request_id"])
    assert forged["X-Request-Id"] == replaced["request_id"]
    assert too_long["X-Request-Id"] == replaced_too["request_id"]


def test_the_trace_id_is_the_x_ray_root(api: APIClient, logs: Written) -> None:
    trace = "Root=1-6748a1b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"
    api.get(GOALS, HTTP_X_AMZN_TRACE_ID=trace)

    assert only(logs())["trace_id"] == "1-6748a1b2-0123456789abcdef01234567"


# --- DynamoDB calls ----------------------------------------------------------------------


def _requests(api: APIClient, goal_id: str) -> dict[str, Callable[[], Any]]:
    now = datetime.now(UTC).isoformat()
    return {
        "create goal": lambda: api.post(GOALS, goal_body(id=str(uuid.uuid4())), format="json"),
        "list goals": lambda: api.get(GOALS),
        "log activity": lambda: api.post(
            f"{GOALS}/{goal_id}/activities", {"value": "5", "occurred_at": now}, format="json"
        ),
        "progress": lambda: api.get(f"{GOALS}/{goal_id}/progress"),
        "all progress": lambda: api.get("/api/v1/progress"),
        "archive": lambda: api.post(f"{GOALS}/{goal_id}/archive"),
    }


@pytest.mark.parametrize(
    "name", ["create goal", "list goals", "log activity", "progress", "all progress", "archive"]
)
def test_the_dynamodb_call_count_is_what_botocore_sent(
    api: APIClient,
    name: str,
    dynamo_calls: DynamoCalls,
    aws_calls: Counter[str],
    logs: Written,
) -> None:
    goal_id = api.post(GOALS, goal_body(period="monthly"), format="json").json()["id"]
    dynamo_calls.reset()
    before = len(logs())  # the setup's lines are not the ones checked

    _requests(api, goal_id)[name]()

    line = logs()[before]
    # tests/conftest.py counts the shared revoked sign-ins list apart (its
    # read is per process, not per request), and the rate limit counter's
    # write (lifestyle.ratelimit); the request log counts every call.
    sent = (
        sum(dynamo_calls().values())
        + aws_calls["revocations.GetItem"]
        + aws_calls["ratelimit.UpdateItem"]
    )
    assert line["dynamodb_calls"] == sent >= 1
    assert line["dynamodb_retries"] == 0


def test_retries_botocore_absorbed_and_a_503_show_in_the_line(
    api: APIClient, logs: Written
) -> None:
    aws.reset_clients()  # fresh retry quotas; the hook goes with these clients
    with mock.patch("botocore.retries.standard.ExponentialBackoff.delay_amount", return_value=0):
        throttled = Throttle({"Query"}, THROTTLING, times=settings.AWS_MAX_ATTEMPTS - 1)
        for botocore_client in dynamodb_clients():
            botocore_client.meta.events.register_first("before-send.dynamodb", throttled)
        assert api.get(GOALS).status_code == 200
        throttled.remaining = None  # from now on, every attempt
        assert api.get(GOALS).status_code == 503
    aws.reset_clients()

    absorbed, unavailable = logs()
    assert (absorbed["status"], absorbed["level"]) == (200, "INFO")
    assert absorbed["dynamodb_retries"] == settings.AWS_MAX_ATTEMPTS - 1
    assert (unavailable["status"], unavailable["level"]) == (503, "WARNING")
    assert unavailable["dynamodb_retries"] == settings.AWS_MAX_ATTEMPTS - 1
    # The error handler's own warning carries the same request id.
    warning = only(logs("lifestyle.errors"))
    assert warning["request_id"] == unavailable["request_id"]
    assert "ThrottlingException" in warning["exception"]


# --- What is never logged ----------------------------------------------------------------


def test_no_token_header_body_or_personal_data_reaches_any_log_record(
    user: User, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # whatever LOG_LEVEL says
    caplog.set_level(logging.DEBUG, logger="lifestyle")
    api = user.client(user.id_token)  # the ID token carries the e-mail address
    note = "Ran with my sister past our house"
    goal_id = api.post(GOALS, goal_body(title="Secret goal title"), format="json").json()["id"]
    api.post(
        f"{GOALS}/{goal_id}/activities",
        {"value": "5", "occurred_at": datetime.now(UTC).isoformat(), "note": note},
        format="json",
    )
    api.get(GOALS, {"status": "active"}, HTTP_COOKIE="session=private")

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    for record in caplog.records:
        handler.handle(record)
    written = stream.getvalue() + caplog.text
    assert "lifestyle.request" in written
    secrets = [
        user.id_token, user.access_token, user.id_token.split(".")[1], "Bearer",
        f"{user.username}@example.com", user.username, user.password,
        "Secret goal title", note, "session=private", "status=active",
    ]  # fmt: skip
    for secret in secrets:
        assert secret not in written, secret


# --- Errors ------------------------------------------------------------------------------


def test_a_500_is_one_error_line_with_the_traceback(
    user: User, logs: Written, caplog: pytest.LogCaptureFixture
) -> None:
    api = APIClient(raise_request_exception=False)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {user.access_token}")

    with mock.patch("goals.selectors.goal_list", side_effect=RuntimeError("bug in the selector")):
        response = api.get(GOALS)

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
    line = only(logs())
    assert (line["status"], line["level"], line["user_id"]) == (500, "ERROR", user.user_id)
    assert response["X-Request-Id"] == line["request_id"]
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert "RuntimeError: bug in the selector" in line["exception"]
    assert "goals/apis.py" in line["exception"]
    # Django's own "Internal Server Error" record would repeat it: it is not written.
    assert not [r for r in caplog.records if r.name == "django.request"]


def test_records_outside_a_request_have_no_request_id() -> None:
    record = logging.LogRecord("lifestyle.x", logging.INFO, __file__, 1, "hello %s", ("you",), None)

    assert json.loads(JsonFormatter().format(record)) == {
        "time": json.loads(JsonFormatter().format(record))["time"],
        "level": "INFO",
        "logger": "lifestyle.x",
        "message": "hello you",
    }
