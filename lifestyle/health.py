"""The runbook's "Quick Health Check", for what this product runs on.

The runbook asked Lambda for each function's state and API Gateway for the
API; here one Lambda serves everything, so the checks ask what it depends
on: the table is ACTIVE with point-in-time recovery and TTL on, the bucket
and the user pool answer, and (given its URL) the API answers its health
endpoint over HTTP. Every call is one the Lambda's IAM policy grants, so
``zappa manage prod health_check`` runs the same checks from inside.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings

from lifestyle.aws import client
from lifestyle.checks import Check, CheckFailed, CheckResult, require, run_checks
from lifestyle.provisioning import (
    bucket_exists,
    describe_table,
    table_point_in_time_recovery,
    table_ttl,
)

HEALTH_PATH = "/api/v1/health"


def check_table() -> str:
    name = settings.DYNAMODB_TABLE
    table = describe_table(name)
    if table is None:
        raise CheckFailed(f"no table {name}")
    if table["TableStatus"] != "ACTIVE":
        raise CheckFailed(f"{name} is {table['TableStatus']}")
    return f"{name} ACTIVE, about {table.get('ItemCount', 0)} items"


def check_point_in_time_recovery() -> str:
    return require(table_point_in_time_recovery(settings.DYNAMODB_TABLE))


def check_ttl() -> str:
    return require(table_ttl(settings.DYNAMODB_TABLE))


def check_bucket() -> str:
    name = settings.AWS_STORAGE_BUCKET_NAME
    if not bucket_exists(name):
        raise CheckFailed(f"no bucket {name}")
    return f"{name} reachable"


def check_user_pool() -> str:
    pool_id = settings.COGNITO_USER_POOL_ID
    if not pool_id:
        raise CheckFailed("COGNITO_USER_POOL_ID is not set: no token can be accepted")
    pool = client("cognito-idp").describe_user_pool(UserPoolId=pool_id)["UserPool"]
    return f"{pool['Name']} ({pool_id}), about {pool.get('EstimatedNumberOfUsers', 0)} users"


def validate_base_url(base_url: str) -> str:
    """The API's root URL without a trailing slash; ValueError if it is not
    an http(s) URL with a host."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--base-url must be an http(s) URL with a host, not {base_url!r}.")
    if parts.query or parts.fragment:
        raise ValueError(f"--base-url takes no query or fragment: {base_url!r}.")
    return base_url.rstrip("/")


def api_check(base_url: str, timeout: float) -> Check:
    url = validate_base_url(base_url) + HEALTH_PATH

    def check() -> str:
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                status, body = response.status, response.read(4096)
        except urllib.error.HTTPError as error:
            raise CheckFailed(f"GET {url}: HTTP {error.code}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise CheckFailed(f"GET {url}: cannot connect ({reason})") from None
        try:
            answer = json.loads(body)
        except ValueError:
            raise CheckFailed(f"GET {url}: HTTP {status}, not JSON") from None
        if not isinstance(answer, dict) or answer.get("status") != "ok":
            raise CheckFailed(f"GET {url}: HTTP {status}, {answer!r}")
        return f"GET {url}: HTTP {status}"

    return check


def health_checks(base_url: str | None = None, timeout: float = 5.0) -> list[tuple[str, Check]]:
    checks: list[tuple[str, Check]] = [
        ("table", check_table),
        ("table point-in-time recovery", check_point_in_time_recovery),
        ("table TTL", check_ttl),
        ("bucket", check_bucket),
        ("user pool", check_user_pool),
    ]
    if base_url is not None:
        checks.append(("api", api_check(base_url, timeout)))
    return checks


def run_health_checks(base_url: str | None = None, timeout: float = 5.0) -> list[CheckResult]:
    return run_checks(health_checks(base_url, timeout))
