"""``manage.py health_check``: the runbook's quick health check, against
moto's server and Django's live server over real HTTP."""

from __future__ import annotations

import io
import json
import socket

import pytest
from django.core.management import CommandError, call_command
from django.test.utils import override_settings

from lifestyle.aws import reset_clients
from lifestyle.checks import FAIL, OK, CheckFailed, CheckResult, run_check
from lifestyle.health import run_health_checks
from lifestyle.provisioning import provision
from tests.lifestyle.test_provisioning import (  # noqa: F401 (fixtures)
    fresh_names,
    introduce_drift,
    run_manage,
    scratch_stack,
)

CHECKS = ["table", "table point-in-time recovery", "table TTL", "bucket", "user pool"]


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def health_check(*arguments: str) -> tuple[str, CommandError | None]:
    out = io.StringIO()
    try:
        call_command("health_check", *arguments, stdout=out)
    except CommandError as error:
        return out.getvalue(), error
    return out.getvalue(), None


def statuses(results: list[CheckResult]) -> dict[str, str]:
    return {result.name: result.status for result in results}


def test_a_healthy_stack_passes(aws_stack: dict[str, str]) -> None:
    text, error = health_check()
    assert error is None, text
    lines = text.splitlines()
    assert [line.split("  ")[0] for line in lines[:-1]] == [OK] * len(CHECKS)
    assert f"{aws_stack['table']} ACTIVE" in lines[0]
    assert "ENABLED" in lines[1]
    assert f"({aws_stack['user_pool_id']})" in lines[4]
    assert all(" ms  " in line for line in lines[:-1])
    assert lines[-1] == "Health check passed (5 ok)."


def test_the_api_over_http(live_url: str) -> None:
    text, error = health_check(f"--base-url={live_url}/")
    assert error is None, text
    api = text.splitlines()[-2]
    assert api.startswith("ok    api")
    assert f"GET {live_url}/api/v1/health: HTTP 200" in api


def test_an_unreachable_api_fails_alone(closed_port: int) -> None:
    text, error = health_check(f"--base-url=http://127.0.0.1:{closed_port}", "--timeout=2")
    assert error is not None
    assert str(error) == "Health check failed: api."
    lines = text.splitlines()
    assert [line.split()[0] for line in lines] == [OK] * len(CHECKS) + [FAIL]
    assert "cannot connect" in lines[-1]


def test_json_for_machines(live_url: str, closed_port: int) -> None:
    text, error = health_check("--json", f"--base-url={live_url}")
    assert error is None
    document = json.loads(text)
    assert document["ok"] is True
    assert [check["name"] for check in document["checks"]] == [*CHECKS, "api"]
    assert {check["status"] for check in document["checks"]} == {OK}
    assert all(isinstance(check["ms"], float) for check in document["checks"])

    text, error = health_check("--json", f"--base-url=http://127.0.0.1:{closed_port}")
    assert error is not None
    assert json.loads(text)["ok"] is False


def test_drift_fails_and_provision_cures_it(scratch_stack: dict[str, str]) -> None:  # noqa: F811
    introduce_drift(scratch_stack)
    results = run_health_checks()
    assert statuses(results) == {
        "table": OK,
        "table point-in-time recovery": FAIL,
        "table TTL": FAIL,
        "bucket": OK,
        "user pool": OK,
    }
    details = {result.name: result.detail for result in results}
    assert details["table point-in-time recovery"] == "DRIFT: DISABLED, spec ENABLED"
    provision()
    assert {result.status for result in run_health_checks()} == {OK}


def test_missing_resources_fail_each_check_without_stopping_the_others() -> None:
    with override_settings(
        DYNAMODB_TABLE="health-missing-table",
        AWS_STORAGE_BUCKET_NAME="health-missing-bucket",
        COGNITO_USER_POOL_ID="us-east-1_Missing",
    ):
        text, error = health_check()
    assert error is not None
    assert str(error) == (
        "Health check failed: table, table point-in-time recovery, table TTL, bucket, user pool."
    )
    lines = text.splitlines()
    assert len(lines) == len(CHECKS)
    assert "no table health-missing-table" in lines[0]
    assert "AWS error TableNotFoundException" in lines[1]
    assert "no bucket health-missing-bucket" in lines[3]
    assert "AWS error ResourceNotFoundException" in lines[4]
    assert "Traceback" not in text


def test_an_unset_pool_fails() -> None:
    with override_settings(COGNITO_USER_POOL_ID=""):
        results = run_health_checks()
    pool = next(result for result in results if result.name == "user pool")
    assert (pool.status, pool.detail) == (
        FAIL,
        "COGNITO_USER_POOL_ID is not set: no token can be accepted",
    )


def test_unreachable_aws_is_a_fail_line_not_a_traceback(closed_port: int) -> None:
    endpoint = f"http://127.0.0.1:{closed_port}"
    try:
        with override_settings(AWS_ENDPOINT_URL=endpoint, AWS_MAX_ATTEMPTS=1):
            reset_clients()
            text, error = health_check()
    finally:
        reset_clients()  # the next test's clients talk to moto again
    assert error is not None
    lines = text.splitlines()
    assert [line.split()[0] for line in lines] == [FAIL] * len(CHECKS)
    assert all("EndpointConnectionError" in line for line in lines), text


def test_a_check_that_raises_check_failed_is_a_fail() -> None:
    def broken() -> str:
        raise CheckFailed("because")

    result = run_check("x", broken)
    assert (result.status, result.detail) == (FAIL, "because")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--base-url=ftp://example.com"], "--base-url must be an http"),
        (["--base-url=example.com"], "--base-url must be an http"),
        (["--base-url=http://example.com/?x=1"], "no query or fragment"),
        (["--timeout=0"], "--timeout must be more than 0"),
        (["--timeout=600"], "--timeout must be more than 0"),
    ],
)
def test_bad_arguments_are_refused(arguments: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("health_check", *arguments, stdout=io.StringIO())


def test_the_command_line_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_manage("health_check") == 0
    with override_settings(DYNAMODB_TABLE="health-missing-table"):
        assert run_manage("health_check", "--json") == 1
    captured = capsys.readouterr()
    assert "CommandError: Health check failed: table, table point-in-time recovery" in captured.err
    assert json.loads(captured.out[captured.out.index("{") :])["ok"] is False
