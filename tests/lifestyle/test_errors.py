"""Whatever goes wrong, a client gets the one JSON error shape."""

from __future__ import annotations

from unittest import mock

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from django.test import Client, override_settings
from rest_framework.test import APIClient

from tests.conftest import User


def assert_error(response: object, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status  # type: ignore[attr-defined]
    assert response["Content-Type"] == "application/json"  # type: ignore[index]
    body = response.json()  # type: ignore[attr-defined]
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    return dict(body["error"])


@pytest.mark.parametrize("path", ["/", "/nope", "/api/v1/nope", "/api/v2/goals", "/admin/"])
def test_unknown_urls_are_json_404s(path: str) -> None:
    assert_error(Client().get(path), 404, "not_found")


def test_wrong_method_is_a_json_405() -> None:
    response = APIClient().delete("/api/v1/health")
    assert_error(response, 405, "method_not_allowed")


def test_a_bug_is_a_json_500_without_details(user: User) -> None:
    client = Client(raise_request_exception=False)
    with mock.patch("goals.selectors.Goal.get", side_effect=RuntimeError("secret detail")):
        response = client.get(
            "/api/v1/goals/01JBZ3Y7Q2W8R6N4M0K1H5G9FD",
            HTTP_AUTHORIZATION=f"Bearer {user.access_token}",
        )
    error = assert_error(response, 500, "server_error")
    assert "secret detail" not in str(error)


@pytest.mark.parametrize(
    "failure",
    [
        EndpointConnectionError(endpoint_url="http://dynamodb"),
        ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
            "GetItem",
        ),
    ],
    ids=["unreachable", "throttled"],
)
def test_aws_trouble_is_a_503_with_retry_after(user: User, failure: Exception) -> None:
    with mock.patch("goals.selectors.Goal.get", side_effect=failure):
        response = user.client().get("/api/v1/goals/01JBZ3Y7Q2W8R6N4M0K1H5G9FD")
    assert_error(response, 503, "service_unavailable")
    assert response["Retry-After"] == "1"


def test_oversized_body_past_the_middleware_is_still_a_413(user: User) -> None:
    """Django's own DATA_UPLOAD_MAX_MEMORY_SIZE guard, behind the middleware
    that normally answers first, also ends in the error shape with 413."""
    from django.conf import settings

    middleware = [name for name in settings.MIDDLEWARE if "RequestBodyLimit" not in name]
    body = b'{"title": "' + b"x" * (70 * 1024) + b'", "kind": "habit"}'
    with override_settings(MIDDLEWARE=middleware):
        response = user.client().post("/api/v1/goals", body, content_type="application/json")
    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize(
    ("code", "level"),
    [
        ("ProvisionedThroughputExceededException", "WARNING"),
        ("ThrottlingException", "WARNING"),
        ("AccessDeniedException", "ERROR"),
        ("ResourceNotFoundException", "ERROR"),
    ],
)
def test_aws_refusals_are_logged_as_errors_and_busy_answers_as_warnings(
    user: User, code: str, level: str, caplog: pytest.LogCaptureFixture
) -> None:
    failure = ClientError({"Error": {"Code": code, "Message": "no"}}, "GetItem")
    with mock.patch("goals.selectors.Goal.get", side_effect=failure):
        response = user.client().get("/api/v1/goals/01JBZ3Y7Q2W8R6N4M0K1H5G9FD")
    assert_error(response, 503, "service_unavailable")
    logged = [r for r in caplog.records if r.name == "lifestyle.errors"]
    assert [(r.levelname, code in r.getMessage()) for r in logged] == [(level, True)]
