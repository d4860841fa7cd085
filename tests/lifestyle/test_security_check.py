"""``manage.py security_check``: the runbook's security checklist, against
moto's server, the running settings and the repository's deployment
configuration. Also: everything health_check and security_check ask AWS is
allowed by the Lambda's IAM policy, so they run under ``zappa manage``."""

from __future__ import annotations

import io
import json
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test.utils import override_settings

from lifestyle.aws import client
from lifestyle.checks import FAIL, OK, SKIP, CheckResult
from lifestyle.iam_policy import ROOT, PolicyTarget, is_allowed, render_policy
from lifestyle.provisioning import provision, table_spec
from lifestyle.security import run_security_checks
from tests.lifestyle.test_provisioning import (  # noqa: F401 (fixtures)
    fresh_names,
    introduce_drift,
    run_manage,
    scratch_stack,
)
from tests.test_deploy_config import Call, iam_requests, recorded  # noqa: F401 (fixture)

AWS = [
    "table encryption at rest",
    "table point-in-time recovery",
    "bucket versioning",
    "bucket encryption",
    "bucket public-access block",
]
SETTINGS = [
    "settings: DEBUG off",
    "settings: secret key",
    "settings: secrets from Secrets Manager",
]
STAGE_CHECKS = [
    f"stage {stage}: {what}"
    for stage in ("dev", "prod")
    for what in ("settings", "secrets", "IAM policy")
]
NOT_CHECKABLE = ["API Gateway request validation", "CloudTrail logging", "regular security audits"]
STRONG_KEY = secrets.token_urlsafe(50)


def security_check(*arguments: str) -> tuple[str, CommandError | None]:
    out = io.StringIO()
    try:
        call_command("security_check", *arguments, stdout=out)
    except CommandError as error:
        return out.getvalue(), error
    return out.getvalue(), None


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {result.name: result for result in results}


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Running settings as a deployment's: a strong key from the secret."""
    monkeypatch.setenv("LIFESTYLE_SECRET_ID", "ai-lifestyle-app/test")
    with override_settings(SECRET_KEY=STRONG_KEY, DEBUG=False):
        yield


# --- The whole checklist --------------------------------------------------------------


def test_a_local_run_passes_and_says_what_it_skipped(aws_stack: dict[str, str]) -> None:
    text, error = security_check()
    assert error is None, text
    lines = text.splitlines()
    names = [line[6:44].rstrip() for line in lines[:-1]]
    assert names == [*AWS, *SETTINGS, *STAGE_CHECKS, *NOT_CHECKABLE]
    status = {name: line.split()[0] for name, line in zip(names, lines, strict=False)}
    assert {status[name] for name in AWS + STAGE_CHECKS} == {OK}
    assert status["settings: DEBUG off"] == OK
    # The test settings' key and missing secret id are expected here: skipped, saying why.
    assert status["settings: secret key"] == SKIP
    assert "development placeholder" in lines[6]
    assert "--deployment" in lines[6]
    assert status["settings: secrets from Secrets Manager"] == SKIP
    assert {status[name] for name in NOT_CHECKABLE} == {SKIP}
    assert lines[-1] == "Security check passed (12 ok, 5 skipped)."
    assert STRONG_KEY not in text


def test_the_command_line_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_manage("security_check", "--stage=dev") == 0
    assert run_manage("security_check", "--stage=dev", "--deployment") == 1
    assert "CommandError: Security check failed: settings: secret key" in capsys.readouterr().err


def test_deployment_judges_the_test_settings_and_fails_them() -> None:
    text, error = security_check("--deployment")
    assert error is not None
    assert str(error) == (
        "Security check failed: settings: secret key, settings: secrets from Secrets Manager."
    )
    assert "the key is a development placeholder from this repository" in text


def test_deployment_passes_with_a_real_key_from_the_secret(deployed: None) -> None:
    text, error = security_check("--deployment")
    assert error is None, text
    key_line = next(line for line in text.splitlines() if "settings: secret key" in line)
    assert key_line.startswith(OK)
    assert f"{len(STRONG_KEY)} characters" in key_line
    assert STRONG_KEY not in text  # nor any of it


def test_inside_a_lambda_deployment_is_implied(
    deployed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "ai-lifestyle-app-prod")
    with override_settings(DEBUG=True):
        _, error = security_check()
    assert error is not None
    assert "settings: DEBUG off" in str(error)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("short-but-not-a-placeholder", "weak"),
        ("django-insecure-" + "x1y2z3" * 10, "weak"),
        ("a" * 60, "weak"),  # long, but one character
        ("local-only-secret-key-never-deployed", "development placeholder"),
    ],
)
def test_weak_keys_fail_in_a_deployment(deployed: None, key: str, reason: str) -> None:
    with override_settings(SECRET_KEY=key):
        result = by_name(run_security_checks(deployment=True))["settings: secret key"]
    assert result.status == FAIL
    assert reason in result.detail
    assert key not in result.detail


def test_debug_on_is_skipped_locally_and_fails_deployed() -> None:
    with override_settings(DEBUG=True):
        local = by_name(run_security_checks(deployment=False))["settings: DEBUG off"]
        deployed = by_name(run_security_checks(deployment=True))["settings: DEBUG off"]
    assert local.status == SKIP
    assert local.detail.startswith("DEBUG is on, as expected in")
    assert deployed.status == FAIL


def test_json_for_machines() -> None:
    text, error = security_check("--json", "--stage=prod")
    assert error is None
    document = json.loads(text)
    assert document["ok"] is True
    names = [check["name"] for check in document["checks"]]
    assert "stage prod: IAM policy" in names
    assert "stage dev: IAM policy" not in names


# --- AWS drift -------------------------------------------------------------------------


def test_drift_fails_and_provision_cures_it(scratch_stack: dict[str, str]) -> None:  # noqa: F811
    introduce_drift(scratch_stack)
    results = by_name(run_security_checks(stages=["prod"]))
    failed = {name for name, result in results.items() if result.status == FAIL}
    assert failed == {
        "table point-in-time recovery",
        "bucket versioning",
        "bucket public-access block",
    }
    assert results["bucket public-access block"].detail == (
        "DRIFT: none set, spec all four flags on"
    )
    client("s3").put_public_access_block(
        Bucket=scratch_stack["AWS_STORAGE_BUCKET_NAME"],
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": True,
        },
    )
    block = by_name(run_security_checks(stages=["prod"]))["bucket public-access block"]
    assert block.detail == "DRIFT: BlockPublicPolicy off"

    provision()
    text, error = security_check("--stage=prod")
    assert error is None, text


def test_a_table_without_kms_and_a_bucket_without_encryption_fail(
    fresh_names: dict[str, str],  # noqa: F811
) -> None:
    spec = table_spec(fresh_names["DYNAMODB_TABLE"])
    del spec["SSESpecification"]
    client("dynamodb").create_table(**spec)
    client("s3").create_bucket(Bucket=fresh_names["AWS_STORAGE_BUCKET_NAME"])
    results = by_name(run_security_checks(stages=["prod"]))
    assert results["table encryption at rest"].detail == (
        "DRIFT: AWS-owned key (the default), spec KMS"
    )
    assert results["bucket encryption"].detail == "DRIFT: none, spec AES256"


def test_missing_resources_fail_with_the_aws_error_code() -> None:
    with override_settings(
        DYNAMODB_TABLE="security-missing-table", AWS_STORAGE_BUCKET_NAME="security-missing-bucket"
    ):
        text, error = security_check("--stage=dev")
    assert error is not None
    lines = {line[6:44].rstrip(): line for line in text.splitlines()}
    assert lines["table encryption at rest"].startswith(FAIL)
    assert "no table security-missing-table" in lines["table encryption at rest"]
    assert "AWS error TableNotFoundException" in lines["table point-in-time recovery"]
    assert "AWS error NoSuchBucket" in lines["bucket versioning"]
    assert lines["stage dev: settings"].startswith(OK)  # the others still ran
    assert "Traceback" not in text


# --- The deployment configuration --------------------------------------------------------


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of zappa_settings.json to spoil, beside an empty deploy/."""
    shutil.copy(ROOT / "zappa_settings.json", tmp_path / "zappa_settings.json")
    (tmp_path / "deploy").mkdir()
    return tmp_path / "zappa_settings.json"


def spoil(path: Path, stage: str, **changes: Any) -> None:
    config = json.loads(path.read_text())
    environment = changes.pop("environment_variables", None)
    config[stage].update(changes)
    if environment is not None:
        config[stage]["environment_variables"] = {
            **config[stage]["environment_variables"],
            **environment,
        }
        for name, value in environment.items():
            if value is None:
                del config[stage]["environment_variables"][name]
    path.write_text(json.dumps(config))


def stage_results(path: Path, stage: str = "prod") -> dict[str, CheckResult]:
    return by_name(run_security_checks(stages=[stage], zappa_settings=path))


def test_a_stage_running_with_debug_fails(checkout: Path) -> None:
    spoil(checkout, "prod", debug=True, environment_variables={"DJANGO_DEBUG": "true"})
    result = stage_results(checkout)["stage prod: settings"]
    assert result.status == FAIL
    assert result.detail == '"debug" is not false (Zappa defaults to true); DEBUG is on'


def test_a_stage_answering_any_host_fails(checkout: Path) -> None:
    spoil(checkout, "dev", environment_variables={"DJANGO_ALLOWED_HOSTS": "*"})
    result = stage_results(checkout, "dev")["stage dev: settings"]
    assert (result.status, result.detail) == (FAIL, "ALLOWED_HOSTS is ['*']")


def test_a_stage_whose_settings_do_not_load_fails(checkout: Path) -> None:
    spoil(checkout, "dev", environment_variables={"DJANGO_DEBUG": "maybe"})
    result = stage_results(checkout, "dev")["stage dev: settings"]
    assert result.status == FAIL
    assert "lifestyle.settings.base does not load for dev" in result.detail
    assert "DJANGO_DEBUG must be true or false" in result.detail


def test_a_stage_with_a_secret_in_its_environment_fails(checkout: Path) -> None:
    spoil(
        checkout,
        "prod",
        environment_variables={"DJANGO_SECRET_KEY": "oops", "LIFESTYLE_SECRET_ID": None},
    )
    result = stage_results(checkout)["stage prod: secrets"]
    assert result.status == FAIL
    assert result.detail == (
        "LIFESTYLE_SECRET_ID is not set; secrets in environment_variables: DJANGO_SECRET_KEY"
    )
    assert "oops" not in result.detail


def test_a_rendered_policy_with_a_wildcard_fails(checkout: Path) -> None:
    rendered = checkout.parent / "deploy" / "lambda-policy.prod.json"
    rendered.write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Sid": "All", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
            }
        )
    )
    result = stage_results(checkout)["stage prod: IAM policy"]
    assert result.status == FAIL
    assert result.detail.startswith("lambda-policy.prod.json: All: action 's3:*' is a wildcard")
    rendered.write_text(json.dumps(render_policy(_target("prod"))))
    assert stage_results(checkout)["stage prod: IAM policy"].detail.endswith(
        "lambda-policy.prod.json well-formed"
    )


def test_a_template_that_does_not_render_fails(checkout: Path) -> None:
    spoil(checkout, "prod", environment_variables={"LIFESTYLE_SECRET_ID": None})
    result = stage_results(checkout)["stage prod: IAM policy"]
    assert result.status == FAIL
    assert result.detail == (
        "the template does not render: Stage 'prod' sets no LIFESTYLE_SECRET_ID in "
        "zappa_settings.json."
    )


def test_without_zappa_settings_the_configuration_is_skipped(tmp_path: Path) -> None:
    results = run_security_checks(zappa_settings=tmp_path / "zappa_settings.json")
    skipped = by_name(results)["deployment configuration"]
    assert skipped.status == SKIP
    assert "not packaged into the Lambda" in skipped.detail


def test_an_unknown_stage_is_refused() -> None:
    with pytest.raises(CommandError, match=r"No stage 'staging' in zappa_settings\.json"):
        call_command("security_check", "--stage=staging", stdout=io.StringIO())


# --- The Lambda may make every call the checks make -------------------------------------

ACCOUNT, REGION = "123456789012", "us-east-1"
# Bucket-level reads, authorized as these IAM actions on the bucket.
BUCKET_READS = {
    "GetBucketVersioning": "s3:GetBucketVersioning",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
}


def _target(stage: str, pool: str = f"{REGION}_Example1") -> PolicyTarget:
    from django.conf import settings

    return PolicyTarget(
        account_id=ACCOUNT,
        region=REGION,
        function_name=f"ai-lifestyle-app-{stage}",
        table=settings.DYNAMODB_TABLE,
        bucket=settings.AWS_STORAGE_BUCKET_NAME,
        user_pool_id=pool,
        secret_name=f"ai-lifestyle-app/{stage}",
    )


def iam_requests_of(call: Call) -> list[tuple[str, str, dict[str, str]]]:
    if call.service == "s3" and call.operation in BUCKET_READS:
        return [(BUCKET_READS[call.operation], f"arn:aws:s3:::{call.params['Bucket']}", {})]
    return iam_requests(call)


def test_the_lambda_policy_allows_every_call_the_checks_make(
    aws_stack: dict[str, str],
    recorded: list[Call],  # noqa: F811
    deployed: None,
) -> None:
    call_command("health_check", stdout=io.StringIO())
    call_command("security_check", "--deployment", stdout=io.StringIO())
    operations = {f"{call.service}.{call.operation}" for call in recorded}
    assert operations == {
        "dynamodb.DescribeTable",
        "dynamodb.DescribeContinuousBackups",
        "dynamodb.DescribeTimeToLive",
        "s3.HeadBucket",
        "s3.GetBucketVersioning",
        "s3.GetBucketEncryption",
        "s3.GetPublicAccessBlock",
        "cognito-idp.DescribeUserPool",
    }
    policy = render_policy(_target("prod", aws_stack["user_pool_id"]))
    denied = [
        (action, resource)
        for call in recorded
        for action, resource, context in iam_requests_of(call)
        if not is_allowed(policy, action, resource, context)
    ]
    assert denied == []
