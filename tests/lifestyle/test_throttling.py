"""Throttling: botocore's retry modes absorb it; past them, a clean 503.

The runbook's hand-written ``retry_with_backoff`` is gone: every AWS client
of the product (boto3's, PynamoDB's, the S3 storage's) retries with
botocore's ``AWS_RETRY_MODE`` and ``AWS_MAX_ATTEMPTS``. When the attempts
run out the API answers 503 with ``Retry-After`` in the one error shape,
and nothing is half-written.

Throttling is injected through botocore's own event system: a
``before-send`` handler on the real clients answers chosen attempts with
the HTTP response the service sends when throttling (status, headers and
error body), so botocore's retry logic, PynamoDB's error wrapping and our
error mapping all run as they would against AWS. Everything else reaches
the session's moto server. Backoff delays are patched to zero
(``ExponentialBackoff.delay_amount``), so retries cost no sleep.
"""

from __future__ import annotations

import io
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from django.conf import settings
from django.core.files.storage import storages
from django.test.utils import override_settings
from rest_framework.test import APIClient
from urllib3.response import HTTPResponse

import activities.models  # noqa: F401 (every model class exists before clients are hooked)
import goals.models  # noqa: F401
import ops_admin.revocations
from lifestyle import aws
from lifestyle.dynamo import _model_classes
from lifestyle.errors import api_exception_handler
from tests.activities.test_attachments import confirm, new_activity, start, upload
from tests.conftest import User, assert_error

GOALS = "/api/v1/goals"
DYNAMO_JSON = {"Content-Type": "application/x-amz-json-1.0"}
Answer = tuple[int, dict[str, str], bytes]  # status, headers, body


def dynamo_error(code: str, message: str, **members: Any) -> Answer:
    body = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message, **members}
    return 400, DYNAMO_JSON, json.dumps(body).encode()


THROTTLING = dynamo_error("ThrottlingException", "Rate of requests exceeds the allowed throughput.")
PROVISIONED = dynamo_error(
    "ProvisionedThroughputExceededException",
    "The level of configured provisioned throughput for the table was exceeded.",
)
REQUEST_LIMIT = dynamo_error(
    "RequestLimitExceeded", "Throughput exceeds the current throughput limit for your account."
)
S3_SLOW_DOWN = (503, {"Content-Type": "application/xml"}, b"")  # a HEAD's error has no body
COGNITO_TOO_MANY = (
    400,
    {"Content-Type": "application/x-amz-json-1.1"},
    json.dumps({"__type": "TooManyRequestsException", "message": "Too many requests"}).encode(),
)


class Throttle:
    """A ``before-send`` handler: answers the first ``times`` attempts of the
    given operations (all attempts when ``times`` is None) with ``error``,
    lets every other request through, and counts attempts by operation."""

    def __init__(
        self,
        operations: set[str],
        error: Answer | Callable[[Any], Answer],
        times: int | None = None,
    ) -> None:
        self.operations = operations
        self.error = error
        self.remaining = times
        self.attempts: Counter[str] = Counter()

    def __call__(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        if operation not in self.operations:
            return None
        self.attempts[operation] += 1
        if self.remaining is not None:
            if self.remaining == 0:
                return None
            self.remaining -= 1
        status, headers, body = self.error(request) if callable(self.error) else self.error
        headers = {"x-amzn-RequestId": str(uuid.uuid4()), **headers}
        raw = HTTPResponse(
            body=io.BytesIO(body), status=status, headers=headers, preload_content=False
        )
        return AWSResponse(request.url, status, headers, raw)

    def stop(self) -> None:
        self.remaining = 0


def dynamodb_clients() -> list[Any]:
    """Every botocore client the product sends DynamoDB requests with:
    each model's PynamoDB connection and boto3's."""
    found = [cls._get_connection().connection.client for cls in _model_classes()]
    found.append(aws.client("dynamodb"))
    return list({id(c): c for c in found}.values())


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore sleeps between throttled attempts (jittered exponential
    backoff, up to a second and more): zero here. Adaptive mode also waits
    for its client-side token bucket once throttled: no wait either."""
    from botocore.retries.bucket import TokenBucket
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)
    monkeypatch.setattr(TokenBucket, "acquire", lambda self, amount=1, block=True: True)


@pytest.fixture(autouse=True)
def fresh_clients() -> Iterator[None]:
    """New clients (and retry quotas) per test; the hooks go with them."""
    aws.reset_clients()
    yield
    aws.reset_clients()


@pytest.fixture
def throttle_dynamodb() -> Iterator[Callable[..., Throttle]]:
    """Throttles the given DynamoDB operations. The process's copy of the
    revoked sign-ins list is read first and kept for the test, so a request
    never also rereads it (a GetItem the counts would include, whenever the
    cache window happened to end during the test)."""

    def hook(operations: set[str], error: Any = THROTTLING, times: int | None = None) -> Throttle:
        handler = Throttle(operations, error, times)
        for botocore_client in dynamodb_clients():
            botocore_client.meta.events.register_first("before-send.dynamodb", handler)
        return handler

    with override_settings(REVOCATION_CACHE_SECONDS=3600):
        ops_admin.revocations.cache.clear()
        ops_admin.revocations.cache.entries()
        yield hook
    ops_admin.revocations.cache.clear()


def goal_body(goal_id: str) -> dict[str, Any]:
    return {"id": goal_id, "title": "Run 100 km", "kind": "amount", "target": "100", "unit": "km"}


def assert_unavailable(response: Any) -> None:
    assert_error(response, 503, "service_unavailable")
    assert int(response["Retry-After"]) >= 1


# --- Retries absorb throttling -----------------------------------------------------------


@pytest.mark.parametrize("error", [THROTTLING, PROVISIONED, REQUEST_LIMIT])
def test_a_throttled_create_succeeds_on_a_later_attempt(
    api: APIClient, throttle_dynamodb: Callable[..., Throttle], error: Any
) -> None:
    throttled = throttle_dynamodb({"PutItem"}, error, times=settings.AWS_MAX_ATTEMPTS - 1)
    goal_id = str(uuid.uuid4())

    response = api.post(GOALS, goal_body(goal_id), format="json")

    assert response.status_code == 201, response.content
    assert throttled.attempts["PutItem"] == settings.AWS_MAX_ATTEMPTS == 3
    assert api.get(f"{GOALS}/{goal_id}").status_code == 200


# --- Past the attempts: 503, nothing half-written, a retry succeeds -------------------------


def test_a_create_throttled_past_every_attempt_is_a_503_and_its_retry_creates_once(
    api: APIClient, user: User, throttle_dynamodb: Callable[..., Throttle]
) -> None:
    throttled = throttle_dynamodb({"PutItem"})
    goal_id = str(uuid.uuid4())

    assert_unavailable(api.post(GOALS, goal_body(goal_id), format="json"))
    assert throttled.attempts["PutItem"] == settings.AWS_MAX_ATTEMPTS

    throttled.stop()
    assert_error(api.get(f"{GOALS}/{goal_id}"), 404, "not_found")
    assert api.post(GOALS, goal_body(goal_id), format="json").status_code == 201
    replay = api.post(GOALS, goal_body(goal_id), format="json")
    assert replay["Idempotent-Replayed"] == "true"
    assert [g["id"] for g in api.get(GOALS).json()["items"]] == [goal_id]


def cancelled_by_throttling(request: Any) -> Answer:
    """TransactionCanceledException whose first part was throttled, as
    DynamoDB cancels a transaction that exceeded an item's throughput."""
    parts = len(json.loads(request.body)["TransactItems"])
    reasons = [{"Code": "ThrottlingError", "Message": "Throughput exceeds the capacity."}]
    reasons += [{"Code": "None"}] * (parts - 1)
    return dynamo_error(
        "TransactionCanceledException",
        "Transaction cancelled, please refer cancellation reasons for specific reasons",
        CancellationReasons=reasons,
    )


@pytest.mark.parametrize(
    "error", [THROTTLING, cancelled_by_throttling], ids=["throttled", "cancelled-throttled"]
)
def test_an_activity_log_throttled_past_every_attempt_writes_nothing_and_its_retry_counts_once(
    api: APIClient, throttle_dynamodb: Callable[..., Throttle], error: Any
) -> None:
    goal_id = str(uuid.uuid4())
    assert api.post(GOALS, goal_body(goal_id), format="json").status_code == 201
    activity_id = str(uuid.uuid4())
    body = {"id": activity_id, "value": "12.5", "occurred_at": datetime.now(UTC).isoformat()}
    throttled = throttle_dynamodb({"TransactWriteItems"}, error)

    assert_unavailable(api.post(f"{GOALS}/{goal_id}/activities", body, format="json"))
    # A cancelled transaction is not retried by botocore; a throttled one is.
    expected = settings.AWS_MAX_ATTEMPTS if error is THROTTLING else 1
    assert throttled.attempts["TransactWriteItems"] == expected

    throttled.stop()
    progress = api.get(f"{GOALS}/{goal_id}/progress").json()
    assert (progress["total"], progress["activity_count"]) == ("0", 0)
    assert_error(api.get(f"/api/v1/activities/{activity_id}"), 404, "not_found")

    assert api.post(f"{GOALS}/{goal_id}/activities", body, format="json").status_code == 201
    again = api.post(f"{GOALS}/{goal_id}/activities", body, format="json")
    assert again["Idempotent-Replayed"] == "true"
    progress = api.get(f"{GOALS}/{goal_id}/progress").json()
    assert (progress["total"], progress["activity_count"]) == ("12.5", 1)


def test_a_list_throttled_past_every_attempt_is_a_503(
    api: APIClient, throttle_dynamodb: Callable[..., Throttle]
) -> None:
    throttled = throttle_dynamodb({"Query"}, PROVISIONED)

    assert_unavailable(api.get(GOALS))
    assert throttled.attempts["Query"] == settings.AWS_MAX_ATTEMPTS

    throttled.stop()
    assert api.get(GOALS).json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("operation", ["GetItem", "BatchGetItem"])
def test_reads_throttled_past_every_attempt_are_a_503(
    api: APIClient, throttle_dynamodb: Callable[..., Throttle], operation: str
) -> None:
    """PynamoDB wraps these in GetError (Model.get, Model.batch_get)."""
    goal_id = str(uuid.uuid4())
    assert api.post(GOALS, goal_body(goal_id), format="json").status_code == 201
    throttled = throttle_dynamodb({operation}, PROVISIONED)
    body = {"value": "1", "occurred_at": datetime.now(UTC).isoformat()}

    if operation == "GetItem":
        assert_unavailable(api.get(f"{GOALS}/{goal_id}"))
    else:  # an activity log reads the goal and its totals first
        assert_unavailable(api.post(f"{GOALS}/{goal_id}/activities", body, format="json"))
    assert throttled.attempts[operation] == settings.AWS_MAX_ATTEMPTS


def test_s3_slow_down_past_every_attempt_is_a_503_and_confirm_works_after(
    api: APIClient, user: User
) -> None:
    activity_id = new_activity(user.user_id)
    started = start(api, activity_id)
    upload(started)
    s3 = storages["default"].connection.meta.client  # the storage's own client
    throttled = Throttle({"HeadObject"}, S3_SLOW_DOWN)
    s3.meta.events.register_first("before-send.s3", throttled)

    assert_unavailable(confirm(api, activity_id, started))
    assert throttled.attempts["HeadObject"] == settings.AWS_MAX_ATTEMPTS

    throttled.stop()
    assert confirm(api, activity_id, started).json()["status"] == "ready"


def test_cognito_too_many_requests_is_retried_then_answered_503() -> None:
    cognito = aws.client("cognito-idp")
    throttled = Throttle({"ListUsers"}, COGNITO_TOO_MANY)
    cognito.meta.events.register_first("before-send.cognito-identity-provider", throttled)

    with pytest.raises(ClientError) as raised:
        cognito.list_users(UserPoolId=settings.COGNITO_USER_POOL_ID, Limit=1)

    assert throttled.attempts["ListUsers"] == settings.AWS_MAX_ATTEMPTS
    assert raised.value.response["Error"]["Code"] == "TooManyRequestsException"
    response = api_exception_handler(raised.value, {})
    assert response is not None
    assert (response.status_code, response["Retry-After"]) == (503, "1")
    assert response.data["error"]["code"] == "service_unavailable"


# --- The policy comes from settings -----------------------------------------------------


@pytest.mark.parametrize("mode", ["standard", "adaptive"])
def test_retry_mode_and_attempts_come_from_settings(
    api: APIClient, throttle_dynamodb: Callable[..., Throttle], mode: str
) -> None:
    expected = {"mode": mode, "total_max_attempts": 5}
    with override_settings(AWS_RETRY_MODE=mode, AWS_MAX_ATTEMPTS=5):  # resets the clients
        clients = [
            *dynamodb_clients(),
            aws.client("s3"),
            aws.client("cognito-idp"),
            storages["default"].connection.meta.client,
        ]
        for botocore_client in clients:
            assert botocore_client.meta.config.retries == expected
        throttled = throttle_dynamodb({"Query"})

        assert_unavailable(api.get(GOALS))
        assert throttled.attempts["Query"] == 5

        throttled.stop()
        assert api.get(GOALS).status_code == 200


def test_every_model_class_shares_one_botocore_client() -> None:
    """One client per process, not one per model class (~85 ms of a cold start each)."""
    from activities.models import Activity
    from goals.models import Goal
    from ops_admin.revocations import RevocationList

    clients = {
        id(model._get_connection().connection.client) for model in (Goal, Activity, RevocationList)
    }
    assert len(clients) == 1
