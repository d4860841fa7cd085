"""Per-user rate limits (lifestyle/ratelimit.py), through HTTP, counted in
moto's DynamoDB table.

Limits are small here (``LIMITS``); the window clock is the limiter's own
``utcnow``, patched where a test needs a window to end. The last test runs a
second copy of the app in a subprocess against the same moto server and
table, as a second Lambda container would, and shows the two share one count.
"""

from __future__ import annotations

import io
import logging
import math
import os
import select
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
import requests
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test.utils import override_settings
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView
from urllib3.response import HTTPResponse

import lifestyle.urls
from goals.models import Goal
from lifestyle import aws, ratelimit
from lifestyle.dynamo import user_pk
from lifestyle.env import env_rate
from lifestyle.provisioning import TTL_ATTRIBUTE
from tests.conftest import DynamoCalls, User, assert_error
from tests.lifestyle.test_throttling import THROTTLING, Answer, dynamo_error

GOALS = "/api/v1/goals"
SCOPED = "/api/v1/test-scoped-export"
LIMITS = {"read": (3, 60), "write": (2, 60), "export": (1, 3600)}
ACCESS_DENIED = dynamo_error("AccessDeniedException", "not authorized to perform UpdateItem")
HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


class ScopedExportApi(APIView):
    """Stands in for a view that opts into a stricter scope (an export)."""

    rate_limit_scope = "export"

    def post(self, request: Request) -> Response:
        return Response({"started": True}, status=202)


# ROOT_URLCONF for the scoped view's test: the app's routes plus that view.
urlpatterns = [path(SCOPED.lstrip("/"), ScopedExportApi.as_view()), *lifestyle.urls.urlpatterns]


@pytest.fixture(autouse=True)
def small_limits() -> Iterator[None]:
    with override_settings(RATE_LIMITS=LIMITS):
        yield


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """The limiter's clock, set by the test: ``clock.now`` (epoch seconds)."""
    state = SimpleNamespace(now=time.time())
    monkeypatch.setattr(ratelimit, "utcnow", lambda: datetime.fromtimestamp(state.now, UTC))
    return state


def goal_body() -> dict[str, str]:
    return {"id": str(uuid.uuid4()), "title": "Walk", "kind": "count", "target": "5"}


def limit_headers(response: Any) -> tuple[int, int, int]:
    """(limit, remaining, reset) as whole numbers."""
    limit, remaining, reset = (int(response[name]) for name in HEADERS)
    return limit, remaining, reset


def counters(user_id: str) -> list[dict[str, Any]]:
    """The user's rate limit items as stored in moto."""
    answer = aws.client("dynamodb").query(
        TableName=settings.DYNAMODB_TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": ratelimit.rate_pk(user_id)}},
        ConsistentRead=True,
    )
    return list(answer["Items"])


def stored_goals(user_id: str) -> int:
    return sum(1 for _ in Goal.query(user_pk(user_id), Goal.sk.startswith("GOAL#")))


def assert_rate_limited(response: Any, limit: int, period: int) -> None:
    """A 429 in the one error shape, with every header a client needs."""
    assert_error(response, 429, "rate_limited")
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= period
    assert limit_headers(response) == (limit, 0, retry_after)


# --- limits, headers, the error ------------------------------------------------------------


def test_writes_over_the_limit_are_429_with_headers_and_are_not_done(
    api: APIClient, user: User
) -> None:
    first = api.post(GOALS, goal_body(), format="json")
    second = api.post(GOALS, goal_body(), format="json")
    refused = api.post(GOALS, goal_body(), format="json")

    assert (first.status_code, second.status_code) == (201, 201)
    assert limit_headers(first)[:2] == (2, 1)
    assert limit_headers(second)[:2] == (2, 0)
    assert_rate_limited(refused, limit=2, period=60)
    assert "throttled" in refused.json()["error"]["message"]
    assert stored_goals(user.user_id) == 2  # the refused create never ran


def test_successful_reads_carry_the_headers_with_remaining_going_down(
    api: APIClient, clock: SimpleNamespace, user: User
) -> None:
    _, end = ratelimit.window(user.user_id, 60, clock.now)
    seen = [limit_headers(api.get(GOALS)) for _ in range(3)]

    reset = math.ceil(end - clock.now)
    assert seen == [(3, 2, reset), (3, 1, reset), (3, 0, reset)]
    assert 1 <= reset <= 60
    assert_rate_limited(api.get(GOALS), limit=3, period=60)


def test_errors_after_the_check_are_counted_and_carry_the_headers(api: APIClient) -> None:
    missing = api.get(f"{GOALS}/{uuid.uuid4()}")
    invalid = api.post(GOALS, {"title": 5, "kind": "nonsense"}, format="json")

    assert_error(missing, 404, "not_found")
    assert limit_headers(missing)[:2] == (3, 2)
    assert_error(invalid, 400, "validation_error", "kind")
    assert limit_headers(invalid)[:2] == (2, 1)


def test_the_window_ends_and_the_allowance_comes_back(
    api: APIClient, clock: SimpleNamespace, user: User
) -> None:
    start, end = ratelimit.window(user.user_id, 60, time.time())
    clock.now = start
    for _ in range(3):
        assert api.get(GOALS).status_code == 200

    clock.now = end - 0.5  # the last half second of the window
    late = api.get(GOALS)
    assert_rate_limited(late, limit=3, period=60)
    assert late["Retry-After"] == "1"

    clock.now = end  # the next window
    again = api.get(GOALS)
    assert again.status_code == 200
    assert limit_headers(again) == (3, 2, 60)
    windows = {item["sk"]["S"] for item in counters(user.user_id)}
    assert windows == {ratelimit.window_sk("read", 60, s) for s in (start, end)}


def test_reads_and_writes_are_counted_apart(api: APIClient) -> None:
    for _ in range(2):
        assert api.post(GOALS, goal_body(), format="json").status_code == 201
    assert_rate_limited(api.post(GOALS, goal_body(), format="json"), limit=2, period=60)

    read = api.get(GOALS)
    assert read.status_code == 200
    assert limit_headers(read)[:2] == (3, 2)
    options = api.options(GOALS)  # a read too
    assert limit_headers(options)[:2] == (3, 1)
    assert api.head(GOALS).status_code == 200
    assert_rate_limited(api.get(GOALS), limit=3, period=60)


def test_one_user_does_not_use_up_another_users_allowance(api: APIClient, other_user: User) -> None:
    for _ in range(3):
        api.get(GOALS)
    assert_rate_limited(api.get(GOALS), limit=3, period=60)

    theirs = other_user.client().get(GOALS)
    assert theirs.status_code == 200
    assert limit_headers(theirs)[:2] == (3, 2)


def test_a_view_can_count_against_a_stricter_scope_of_its_own(api: APIClient) -> None:
    with override_settings(ROOT_URLCONF=__name__):
        started = api.post(SCOPED)
        assert started.status_code == 202
        assert limit_headers(started)[:2] == (1, 0)
        assert_rate_limited(api.post(SCOPED), limit=1, period=3600)

        other_write = api.post(GOALS, goal_body(), format="json")  # the write scope is untouched
        assert other_write.status_code == 201
        assert limit_headers(other_write)[:2] == (2, 1)


def test_windows_hold_now_and_start_at_a_stable_offset_per_user() -> None:
    now = 1_800_000_000.25
    starts = set()
    for n in range(50):
        user_id = str(uuid.UUID(int=n))
        start, end = ratelimit.window(user_id, 60, now)
        assert start <= now < end == start + 60
        assert ratelimit.window(user_id, 60, now + (end - now) - 0.001) == (start, end)
        assert ratelimit.window(user_id, 60, end) == (end, end + 60)
        starts.add(start)
    assert len(starts) > 10  # users refused together do not all come back together


def test_an_unknown_scope_is_a_configuration_error() -> None:
    with pytest.raises(ImproperlyConfigured, match="'exports'"):
        ratelimit.limit_for("exports")
    with pytest.raises(ImproperlyConfigured, match="'export'"), override_settings(RATE_LIMITS={}):
        ratelimit.count_request(user_id="someone", scope="export")


def test_the_schema_documents_the_429(api: APIClient) -> None:
    schema = api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for method in ("get", "post"):
        refused = schema["paths"][GOALS][method]["responses"]["429"]
        assert refused["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
        assert "Retry-After" in refused["description"]


# --- what is stored, and what it costs ------------------------------------------------------


def test_counters_are_items_with_an_expiry_dynamodb_ttl_removes(
    api: APIClient, clock: SimpleNamespace, user: User
) -> None:
    api.get(GOALS)
    api.get(GOALS)
    api.post(GOALS, goal_body(), format="json")

    start, end = ratelimit.window(user.user_id, 60, clock.now)
    items = {item["sk"]["S"]: item for item in counters(user.user_id)}
    assert set(items) == {
        ratelimit.window_sk("read", 60, start),
        ratelimit.window_sk("write", 60, start),
    }
    read = items[ratelimit.window_sk("read", 60, start)]
    assert read["hits"] == {"N": "2"}
    assert read["expires_at"] == {"N": str(end)}
    assert read["type"] == {"S": "RateCounter"}
    assert items[ratelimit.window_sk("write", 60, start)]["hits"] == {"N": "1"}
    ttl = aws.client("dynamodb").describe_time_to_live(TableName=settings.DYNAMODB_TABLE)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == TTL_ATTRIBUTE == "expires_at"


def test_each_authenticated_request_costs_one_counter_write_apart_from_its_own_calls(
    api: APIClient, aws_calls: Counter[str], dynamo_calls: DynamoCalls
) -> None:
    api.get(GOALS)  # the revoked sign-ins list is read now, not below
    dynamo_calls.reset()

    assert api.get(GOALS).status_code == 200
    assert dynamo_calls() == {"Query": 1}
    assert aws_calls["ratelimit.UpdateItem"] == 1


@pytest.mark.parametrize(
    ("method", "route"),
    [("get", "/api/v1/health"), ("get", "/api/v1/schema/"), ("get", "/api/v1/docs/")],
)
def test_health_schema_and_docs_are_not_limited(
    user: User, aws_calls: Counter[str], method: str, route: str
) -> None:
    response = getattr(user.client(), method)(route)  # a token is sent, and ignored
    assert response.status_code == 200
    assert not [name for name in HEADERS if response.has_header(name)]
    assert aws_calls["ratelimit.UpdateItem"] == 0


def test_anonymous_and_console_requests_are_not_counted(
    anonymous: APIClient, aws_calls: Counter[str]
) -> None:
    refused = anonymous.get(GOALS)
    assert_error(refused, 401, "not_authenticated")
    console = anonymous.get("/ops/")
    assert console.status_code in (200, 302)
    for response in (refused, console):
        assert not [name for name in HEADERS if response.has_header(name)]
    assert aws_calls["ratelimit.UpdateItem"] == 0


# --- fail open ----------------------------------------------------------------------------------


class CounterFailure:
    """A ``before-send`` hook on the real botocore client: every attempt of
    the rate counter's UpdateItem fails with ``answer`` (or raises it); every
    other request reaches moto."""

    def __init__(self, answer: Answer | Exception) -> None:
        self.answer = answer
        self.attempts = 0

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        if b'"RATE#' not in (request.body or b""):
            return None
        self.attempts += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        status, headers, body = self.answer
        headers = {"x-amzn-RequestId": str(uuid.uuid4()), **headers}
        raw = HTTPResponse(
            body=io.BytesIO(body), status=status, headers=headers, preload_content=False
        )
        return AWSResponse(request.url, status, headers, raw)


@pytest.fixture
def fail_counter() -> Iterator[Any]:
    """Installs a :class:`CounterFailure` on the models' shared client, with
    fresh clients (and retry quotas) before and after, and no backoff sleeps."""
    from botocore.retries.bucket import TokenBucket
    from botocore.retries.standard import ExponentialBackoff

    aws.reset_clients()

    def install(answer: Answer | Exception) -> CounterFailure:
        hook = CounterFailure(answer)
        botocore_client = ratelimit.RateCounter._get_connection().connection.client
        botocore_client.meta.events.register_first("before-send.dynamodb.UpdateItem", hook)
        return hook

    with (
        mock.patch.object(ExponentialBackoff, "delay_amount", return_value=0),
        mock.patch.object(TokenBucket, "acquire", return_value=True),
    ):
        yield install
    aws.reset_clients()


@pytest.mark.parametrize(
    "failure",
    [THROTTLING, ACCESS_DENIED, EndpointConnectionError(endpoint_url="http://dynamodb")],
    ids=["throttled", "access-denied", "unreachable"],
)
def test_a_failed_counter_write_lets_the_request_through(
    api: APIClient,
    user: User,
    fail_counter: Any,
    caplog: pytest.LogCaptureFixture,
    failure: Answer | Exception,
) -> None:
    hook = fail_counter(failure)
    with caplog.at_level(logging.WARNING, logger="lifestyle.ratelimit"):
        created = api.post(GOALS, goal_body(), format="json")

    assert created.status_code == 201, created.content
    assert not [name for name in HEADERS if created.has_header(name)]
    assert hook.attempts >= 1
    assert stored_goals(user.user_id) == 1
    assert counters(user.user_id) == []
    warnings = [r for r in caplog.records if r.name == "lifestyle.ratelimit"]
    assert len(warnings) == 1
    logged = warnings[0].getMessage()
    assert "let through" in logged
    assert user.user_id not in logged
    assert user.username not in logged
    assert warnings[0].exc_info is None  # no traceback that could carry the request


def test_throttled_counter_writes_are_retried_before_failing_open(
    api: APIClient, fail_counter: Any
) -> None:
    hook = fail_counter(THROTTLING)
    assert api.get(GOALS).status_code == 200
    assert hook.attempts == settings.AWS_MAX_ATTEMPTS


def test_counting_resumes_when_dynamodb_is_back(api: APIClient, fail_counter: Any) -> None:
    fail_counter(THROTTLING)
    for _ in range(4):  # over the limit of 3, uncounted
        assert api.get(GOALS).status_code == 200
    aws.reset_clients()  # the hook goes with the client
    back = api.get(GOALS)
    assert back.status_code == 200
    assert limit_headers(back)[:2] == (3, 2)


# --- RATE_LIMIT_<SCOPE> in the environment -------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("120/60", (120, 60)), (" 5/3600 ", (5, 3600)), ("", (7, 8)), (None, (7, 8))],
)
def test_env_rate_reads_requests_per_seconds(
    monkeypatch: pytest.MonkeyPatch, raw: str | None, expected: tuple[int, int]
) -> None:
    if raw is None:
        monkeypatch.delenv("RATE_LIMIT_TEST", raising=False)
    else:
        monkeypatch.setenv("RATE_LIMIT_TEST", raw)
    assert env_rate("RATE_LIMIT_TEST", (7, 8)) == expected


@pytest.mark.parametrize(
    "raw",
    ["120", "120/", "/60", "0/60", "120/0", "-1/60", "1.5/60", "120/60/2", "many/60", "١٢/☃"],
)
def test_env_rate_refuses_anything_else_by_name(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("RATE_LIMIT_TEST", raw)
    with pytest.raises(ImproperlyConfigured, match="RATE_LIMIT_TEST must be requests/seconds"):
        env_rate("RATE_LIMIT_TEST", (7, 8))


# --- two app instances, one count ----------------------------------------------------------------

# A window far longer than the test: both instances are sure to be in the same one.
SHARED = (4, 10**9)
SERVE = """
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server

from lifestyle.wsgi import application


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


server = make_server("127.0.0.1", 0, application, handler_class=Quiet)
print(server.server_port, flush=True)
server.serve_forever()
"""


@pytest.fixture
def second_instance(aws_stack: dict[str, str]) -> Iterator[str]:
    """The app in another process with production settings (every value from
    the environment, as on Lambda), on the same moto server, table and user
    pool; its write limit comes from RATE_LIMIT_WRITE."""
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith("RATE_LIMIT")},
        "DJANGO_SETTINGS_MODULE": "lifestyle.settings.base",
        "DJANGO_SECRET_KEY": "second-instance-test-key",
        "AWS_ENDPOINT_URL": aws_stack["endpoint"],
        "AWS_REGION": settings.AWS_REGION,
        "DYNAMODB_TABLE": aws_stack["table"],
        "AWS_STORAGE_BUCKET_NAME": aws_stack["bucket"],
        "COGNITO_USER_POOL_ID": aws_stack["user_pool_id"],
        "COGNITO_APP_CLIENT_ID": aws_stack["app_client_id"],
        "RATE_LIMIT_WRITE": f"{SHARED[0]}/{SHARED[1]}",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("LIFESTYLE_SECRET_ID", None)
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE],
        env=env,
        cwd=settings.BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        line = process.stdout.readline() if ready and process.stdout else ""
        if not line.strip().isdigit():
            process.kill()
            pytest.fail(f"the second instance did not start: {process.communicate()[1]}")
        yield f"http://127.0.0.1:{int(line)}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_two_instances_sharing_the_table_allow_the_limit_once_not_twice(
    second_instance: str, api: APIClient, user: User
) -> None:
    limit = SHARED[0]
    remote = requests.Session()
    remote.headers["Authorization"] = f"Bearer {user.access_token}"

    answers: list[tuple[str, Any]] = []  # Django's and requests' responses alike
    with override_settings(RATE_LIMITS={**LIMITS, "write": SHARED}):
        for n in range(2 * limit + 2):
            if n % 2 == 0:
                url = f"{second_instance}{GOALS}"
                answers.append(("remote", remote.post(url, json=goal_body(), timeout=10)))
            else:
                answers.append(("local", api.post(GOALS, goal_body(), format="json")))

    seen = [
        (where, response.status_code, response.headers.get("X-RateLimit-Remaining"))
        for where, response in answers
    ]
    # One count across both: remaining goes 3, 2, 1, 0, alternating between them.
    assert seen[:limit] == [
        ("remote", 201, "3"),
        ("local", 201, "2"),
        ("remote", 201, "1"),
        ("local", 201, "0"),
    ]
    assert seen[limit:] == [(where, 429, "0") for where, _ in answers[limit:]]
    for where, response in answers[limit:]:
        assert response.json()["error"]["code"] == "rate_limited", where
        assert int(response.headers["Retry-After"]) >= 1
        assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert stored_goals(user.user_id) == limit
