"""The AWS stand-ins every test runs against.

One moto server (real HTTP on loopback) serves DynamoDB, S3 and Cognito for
the whole session, so the JWKS fetch, botocore's retries and PynamoDB's
requests all take the path they take in production. The stack is
provisioned once with the product's own provisioning code; each test gets
fresh Cognito users, so their DynamoDB partitions never overlap.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.test.utils import override_settings
from rest_framework.test import APIClient

from lifestyle.errors import ApplicationError
from lifestyle.local_aws import start_moto_server
from lifestyle.provisioning import ensure_user, provision, sign_in

PASSWORD = "Correct-horse-battery-9"
_users = itertools.count()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server, endpoint = start_moto_server()
    yield endpoint
    server.stop()


@pytest.fixture(scope="session")
def aws_stack(moto_endpoint: str) -> Iterator[dict[str, str]]:
    with override_settings(AWS_ENDPOINT_URL=moto_endpoint, AWS_S3_ENDPOINT_URL=moto_endpoint):
        stack = provision()
        with override_settings(
            COGNITO_USER_POOL_ID=stack.user_pool_id, COGNITO_APP_CLIENT_ID=stack.app_client_id
        ):
            yield {
                "endpoint": moto_endpoint,
                "user_pool_id": stack.user_pool_id,
                "app_client_id": stack.app_client_id,
                "table": stack.table,
                "bucket": stack.bucket,
            }


@pytest.fixture(autouse=True)
def _aws(aws_stack: dict[str, str]) -> dict[str, str]:
    """Every test talks to the session's moto server."""
    return aws_stack


@dataclass
class User:
    username: str
    password: str
    user_id: str
    id_token: str
    access_token: str

    def client(self, token: str | None = None) -> APIClient:
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token or self.access_token}")
        return api


def make_user(stack: dict[str, str], *groups: str) -> User:
    username = f"user{next(_users)}-{uuid.uuid4().hex[:8]}"
    ensure_user(
        stack["user_pool_id"],
        username=username,
        password=PASSWORD,
        email=f"{username}@example.com",
        groups=groups,
    )
    tokens = sign_in(stack["app_client_id"], username, PASSWORD)
    import jwt

    sub = jwt.decode(tokens["AccessToken"], options={"verify_signature": False})["sub"]
    return User(username, PASSWORD, sub, tokens["IdToken"], tokens["AccessToken"])


@pytest.fixture
def user(aws_stack: dict[str, str]) -> User:
    return make_user(aws_stack)


@pytest.fixture
def other_user(aws_stack: dict[str, str]) -> User:
    return make_user(aws_stack)


@pytest.fixture
def api(user: User) -> APIClient:
    """An API client signed in as ``user``."""
    return user.client()


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


@pytest.fixture
def aws_calls() -> Iterator[Counter[str]]:
    """Counts AWS requests by ``service.Operation`` (DynamoDB, S3, Cognito),
    whichever library sends them, at botocore's single choke point.

    Reads of the revoked sign-ins list (``ops_admin.revocations``) count
    apart, as ``revocations.GetItem``: each process rereads that one item at
    most once per ``REVOCATION_CACHE_SECONDS`` for all the requests it
    serves, so which request pays for it depends on the clock, not on the
    request. Per-request DynamoDB counts (``dynamo_calls``) stay what the
    request itself costs; tests/ops/test_users.py counts the list reads.

    The per-user rate limit counters (``lifestyle.ratelimit``: one UpdateItem
    on every authenticated API request) count apart too, as
    ``ratelimit.UpdateItem``; tests/lifestyle/test_ratelimit.py counts them."""
    from botocore.client import BaseClient

    from lifestyle.ratelimit import PK_PREFIX as RATE_PK_PREFIX
    from ops_admin.revocations import LIST_PK

    calls: Counter[str] = Counter()
    original = BaseClient._make_api_call

    def counting(self: BaseClient, operation: str, params: dict[str, Any]) -> object:
        service = self.meta.service_model.service_name
        if service == "dynamodb" and params.get("Key", {}).get("pk") == {"S": LIST_PK}:
            service = "revocations"
        elif service == "dynamodb" and _is_rate_counter(params, RATE_PK_PREFIX):
            service = "ratelimit"
        calls[f"{service}.{operation}"] += 1
        return original(self, operation, params)

    with mock.patch.object(BaseClient, "_make_api_call", counting):
        yield calls


def _is_rate_counter(params: dict[str, Any], prefix: str) -> bool:
    pk = params.get("Key", {}).get("pk", {}).get("S")
    return isinstance(pk, str) and pk.startswith(prefix)


class DynamoCalls:
    """The DynamoDB requests counted since the test began (or ``reset()``),
    by operation name: ``{"PutItem": 1}``."""

    prefix = "dynamodb."

    def __init__(self, aws_calls: Counter[str]) -> None:
        self._aws_calls = aws_calls

    def reset(self) -> None:
        self._aws_calls.clear()

    def __call__(self) -> dict[str, int]:
        return {
            name.removeprefix(self.prefix): count
            for name, count in self._aws_calls.items()
            if name.startswith(self.prefix)
        }


@pytest.fixture
def dynamo_calls(aws_calls: Counter[str]) -> DynamoCalls:
    return DynamoCalls(aws_calls)


def manage_py(*args: str) -> subprocess.CompletedProcess[str]:
    """``manage.py`` as an operator runs it: a process of its own, the test
    settings and a bare environment (no AWS variables)."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=Path(__file__).resolve().parent.parent,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "lifestyle.settings.test"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_error(response: Any, status: int, code: str, *fields: str) -> dict[str, Any]:
    """The API's one error shape, with this status and code, naming ``fields``."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    for field in fields:
        assert field in error["fields"], error
    return error


@contextmanager
def raises(error: type[ApplicationError], *fields: str) -> Iterator[None]:
    """``pytest.raises`` that also checks the error names exactly ``fields``."""
    with pytest.raises(error) as info:
        yield
    assert set(info.value.fields or {}) == set(fields), info.value.fields


@pytest.fixture(scope="module")
def live_url(aws_stack: dict[str, str]) -> Iterator[str]:
    """The real Django app, served over HTTP on a free port."""
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.test.testcases import LiveServerThread

    server = LiveServerThread("127.0.0.1", StaticFilesHandler, port=0)
    server.daemon = True
    server.start()
    server.is_ready.wait()
    if server.error:
        raise server.error
    yield f"http://127.0.0.1:{server.port}"
    server.terminate()
    server.join()
