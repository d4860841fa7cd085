"""The request log through Zappa's Lambda handler: the line carries Lambda's
request id (the one CloudWatch shows beside the invocation), the X-Ray
trace root, the stage-prefixed path, and nothing of Zappa's own access log
(client IP, user agent, query string)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from zappa.handler import lambda_handler

from lifestyle.request_log import JsonFormatter
from tests.conftest import User
from tests.lambda_handler.conftest import CLIENT_IP, GATEWAYS, USER_AGENT, lambda_context


@pytest.fixture
def written(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """What the JSON formatter writes for every logger while Lambda runs.
    Zappa sets Django up on a cold start, and LOGGING then replaces the root
    logger's handlers: the capture sits on the loggers themselves."""
    for name in ("lifestyle", "zappa"):  # LOGGING leaves these two alone
        caplog.set_level(logging.INFO, logger=name)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    loggers = [logging.getLogger(name) for name in ("lifestyle", "zappa", "django")]
    for logger in loggers:
        logger.addHandler(handler)
    yield stream
    for logger in loggers:
        logger.removeHandler(handler)


@pytest.mark.parametrize("name", ["rest", "http"])
def test_the_line_carries_lambdas_request_id(name: str, user: User, written: io.StringIO) -> None:
    gateway = GATEWAYS[name]
    event = gateway.event(
        "GET", gateway.url("/api/v1/goals", [("status", "active")]), token=user.access_token
    )
    context = lambda_context()

    result = lambda_handler(event, context)

    assert result["statusCode"] == 200
    headers = {key.lower(): value for key, value in result["headers"].items()}
    assert headers["x-request-id"] == context.aws_request_id
    lines = [json.loads(line) for line in written.getvalue().splitlines()]
    requests = [line for line in lines if line["logger"] == "lifestyle.request"]
    assert len(requests) == 1, lines
    line = requests[0]
    assert line["request_id"] == context.aws_request_id
    assert line["trace_id"] == "1-6748a1b2-0123456789abcdef01234567"
    assert (line["path"], line["route"], line["user_id"]) == (
        "/dev/api/v1/goals", "api/v1/goals", user.user_id,
    )  # fmt: skip
    text = written.getvalue()
    for private in (CLIENT_IP, USER_AGENT, "status=active", user.access_token):
        assert private not in text, private
