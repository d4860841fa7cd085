"""The deployment configuration: zappa_settings.json, the Lambda package's
exclude lists, and the least-privilege IAM policy the function runs with.

The valuable part is the coverage check at the end: a representative flow
through the API (goal, activity, progress, attachments) and the cold-start
secret fetch run against moto while every AWS request is recorded at
botocore's choke point (presigned URLs and POST forms included: S3 checks
them against the role that signed them). Each request is mapped to the IAM
action(s) and resource(s) AWS authorizes it by, and the rendered policy must
allow every one, and grant nothing on our resources that the code never
uses without saying why.
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import translate
from importlib import metadata
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from django.conf import settings
from django.core.management import CommandError, call_command
from packaging.requirements import Requirement
from rest_framework.test import APIClient

from lifestyle import secrets
from lifestyle.iam_policy import (
    TEMPLATE,
    UNSCOPED_ACTIONS,
    PolicyError,
    PolicyTarget,
    granted_actions,
    is_allowed,
    policy_problems,
    render_policy,
    statements,
    target_for_stage,
    zappa_stage,
)

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = json.loads((ROOT / "zappa_settings.json").read_text())
STAGES = ("dev", "prod")
ACCOUNT = "123456789012"
REGION = "us-east-1"
POOL = "us-east-1_Example1"


def stage_policy(stage: str) -> dict[str, Any]:
    return render_policy(target_for_stage(stage, account_id=ACCOUNT, user_pool_id=POOL))


# --- zappa_settings.json ----------------------------------------------------------


def zappa_known_settings() -> set[str]:
    """Every setting name Zappa's CLI reads from a stage (a typo in
    zappa_settings.json is otherwise silently ignored)."""
    spec = importlib.util.find_spec("zappa.cli")
    assert spec is not None
    assert spec.origin is not None
    source = Path(spec.origin).read_text()
    read = re.findall(r"""stage_config(?:\.get\(|\[)\s*["']([a-z0-9_]+)["']""", source)
    custom = re.search(r"CUSTOM_SETTINGS = \[(.*?)\]", source, re.DOTALL)
    assert custom is not None
    return {*read, *re.findall(r'"([a-z_]+)"', custom.group(1)), "extends"}


def test_every_setting_is_one_zappa_reads() -> None:
    known = zappa_known_settings()
    for name in STAGES:
        assert set(SETTINGS[name]) <= known, set(SETTINGS[name]) - known


@pytest.mark.parametrize("name", STAGES)
def test_stage_is_deployable(name: str) -> None:
    config = zappa_stage(name)
    assert config["project_name"] == "ai-lifestyle-app"
    assert config["runtime"] == "python3.11"
    assert config["aws_region"] == REGION
    assert config["django_settings"] == "lifestyle.settings.base"
    assert importlib.util.find_spec(config["django_settings"]) is not None
    # The runbook's sizes, and what production must never run with.
    assert (config["memory_size"], config["timeout_seconds"]) == (512, 30)
    assert config["keep_warm"] is True
    assert config["keep_warm_expression"] == "rate(4 minutes)"
    assert config["xray_tracing"] is True
    # Zappa's generated settings default to DEBUG=True, LOG_LEVEL=DEBUG.
    assert config["debug"] is False
    assert config["log_level"] == "INFO"
    assert config["slim_handler"] is False  # sizes allow it: see `make package`
    assert config["s3_bucket"] == f"ai-lifestyle-app-zappa-{name}"


@pytest.mark.parametrize("name", STAGES)
def test_names_follow_the_runbook(name: str) -> None:
    env = zappa_stage(name)["environment_variables"]
    assert env == {
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": f".execute-api.{REGION}.amazonaws.com",
        "LOG_LEVEL": "INFO",
        "DYNAMODB_TABLE": f"ai-lifestyle-app-goals-{name}",
        "AWS_STORAGE_BUCKET_NAME": f"ai-lifestyle-app-attachments-{name}",
        "COGNITO_USER_POOL_NAME": f"ai-lifestyle-app-users-{name}",
        "LIFESTYLE_SECRET_ID": f"ai-lifestyle-app/{name}",
    }
    # Secrets come from Secrets Manager at cold start, never from this file.
    assert not [key for key in env if re.search("SECRET_KEY|PASSWORD|TOKEN", key)]


def test_prod_differs_from_dev_only_by_its_name() -> None:
    dev, prod = zappa_stage("dev"), zappa_stage("prod")
    assert {key for key in dev if dev[key] != prod[key]} == {
        "s3_bucket",
        "attach_policy",
        "environment_variables",
    }
    as_prod = json.dumps(dev["environment_variables"]).replace("-dev", "-prod")
    assert json.loads(as_prod.replace("/dev", "/prod")) == prod["environment_variables"]


# --- What goes into the package -----------------------------------------------------


def test_exclude_lists_keep_the_repository_out() -> None:
    config = zappa_stage("dev")
    # `exclude` names are matched at every depth, in the project and in
    # site-packages alike (shutil.ignore_patterns).
    assert {
        ".venv*",
        ".local",
        ".ci",
        ".git*",
        "tests",
        "*.md",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        "*.egg-info",
        "zappa_settings.py",  # Zappa writes its own; a stray one would shadow it
    } <= set(config["exclude"])
    # `exclude_glob` paths are relative to the project root only: top-level
    # folders whose names runtime packages also use (botocore.docs!).
    assert {"bench", "docs", "deploy", "build", "dist"} <= set(config["exclude_glob"])
    assert not [path for path in config["exclude_glob"] if path.startswith("/")]
    assert "docs" not in config["exclude"]  # botocore.client imports botocore.docs


def runtime_distributions() -> set[str]:
    """The distributions the function imports: pyproject's dependencies and
    what Zappa's handler needs (not Zappa's CLI dependencies), transitively."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^dependencies = \[(.*?)^\]", pyproject, re.DOTALL | re.MULTILINE)
    assert block is not None
    pending = [Requirement(text) for text in re.findall(r'^\s*"([^"]+)"', block.group(1), re.M)]
    pending += [Requirement(name) for name in ("werkzeug", "durationpy")]
    found = {"zappa"}
    while pending:
        requirement = pending.pop()
        name = metadata.distribution(requirement.name).metadata["Name"].lower()
        if name in found:
            continue
        found.add(name)
        for text in metadata.requires(name) or []:
            child = Requirement(text)
            extras = requirement.extras or {""}
            if child.marker is None or any(
                child.marker.evaluate({"extra": extra}) for extra in extras
            ):
                pending.append(child)
    return found


def test_no_exclude_pattern_drops_a_runtime_module() -> None:
    config = zappa_stage("dev")
    excluded = re.compile("|".join(translate(pattern) for pattern in config["exclude"]))
    top_level_only = set(config["exclude_glob"])
    dropped: set[str] = set()
    for name in runtime_distributions():
        for file in metadata.distribution(name).files or []:
            parts = file.parts
            if parts[0].endswith(".dist-info") or ".." in parts or "__pycache__" in parts:
                continue
            if parts[0] in top_level_only:
                dropped.add(str(file))
            for part in parts:
                # Packages' own test suites and READMEs are never imported,
                # nor translations with USE_I18N off.
                unused = part == "tests" or part.endswith((".md", ".po", ".mo"))
                if excluded.match(part) and not unused:
                    dropped.add(str(file))
    assert not dropped, sorted(dropped)[:20]


def test_translations_are_excluded_because_nothing_loads_them() -> None:
    assert settings.USE_I18N is False
    assert {"*.po", "*.mo"} <= set(zappa_stage("dev")["exclude"])


def _package_script() -> Any:
    spec = importlib.util.spec_from_file_location("package_script", ROOT / "deploy" / "package.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_botocore_models_kept_are_those_of_the_services_the_policy_grants() -> None:
    services = _package_script().policy_services()
    assert {"dynamodb", "s3", "cognito-idp", "secretsmanager"} <= set(services)
    for service in services:  # each is a real botocore model name
        boto3.session.Session().get_available_services().index(service)


def test_trim_removes_other_services_models_and_keeps_everything_else(tmp_path: Path) -> None:
    archive = tmp_path / "lambda.zip"
    entries = {
        "botocore/data/endpoints.json": b"{}",
        "botocore/data/dynamodb/2012-08-10/service-2.json.gz": b"dynamodb",
        "botocore/data/ec2/2016-11-15/service-2.json.gz": b"e" * 1000,
        "botocore/data/dynamodbstreams/2012-08-10/service-2.json.gz": b"streams",
        "botocore/client.py": b"# client",
        "lifestyle/settings/base.py": b"# settings",
    }
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in entries.items():
            target.writestr(name, data)

    removed, saved = _package_script().trim_botocore(archive, ["dynamodb"])

    with zipfile.ZipFile(archive) as result:
        left = {name: result.read(name) for name in result.namelist()}
    gone = {"botocore/data/ec2/2016-11-15/service-2.json.gz",
            "botocore/data/dynamodbstreams/2012-08-10/service-2.json.gz"}  # fmt: skip
    assert left == {name: data for name, data in entries.items() if name not in gone}
    assert removed == 2
    assert saved > 0


def test_zappa_cli_only_packages_are_excluded() -> None:
    exclude = set(zappa_stage("dev")["exclude"])
    assert {"troposphere", "setuptools", "pkg_resources", "wheel", "tqdm", "click"} <= exclude
    assert not {"troposphere", "setuptools", "wheel", "tqdm", "click"} & runtime_distributions()


# --- The IAM policy -----------------------------------------------------------------


@pytest.mark.parametrize("name", STAGES)
def test_attach_policy_names_the_rendered_file(name: str) -> None:
    assert zappa_stage(name)["attach_policy"] == f"deploy/lambda-policy.{name}.json"
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "deploy/lambda-policy.*.json" in ignored  # per account: never committed
    assert "!deploy/lambda-policy.template.json" in ignored
    assert TEMPLATE.exists()


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


@pytest.mark.parametrize("name", STAGES)
def test_template_renders_to_a_valid_scoped_policy(name: str) -> None:
    policy = stage_policy(name)
    text = json.dumps(policy)

    assert policy_problems(policy) == []
    assert not [value for value in strings(policy) if "{{" in value or "}}" in value]
    assert f"table/ai-lifestyle-app-goals-{name}" in text
    assert f"arn:aws:s3:::ai-lifestyle-app-attachments-{name}/users/*" in text
    assert f"secret:ai-lifestyle-app/{name}-??????" in text
    assert f"log-group:/aws/lambda/ai-lifestyle-app-{name}" in text
    assert f"userpool/{POOL}" in text
    other = "prod" if name == "dev" else "dev"
    assert f"-{other}" not in text
    assert f"/{other}" not in text
    # Zappa stores it as an inline role policy: 10,240 characters at most.
    assert len(json.dumps(policy, separators=(",", ":"))) < 10_240


def test_only_actions_without_resource_level_permissions_use_a_bare_star() -> None:
    # X-Ray's PutTraceSegments/PutTelemetryRecords and DynamoDB's ListBackups
    # and ListTables cannot be scoped to a resource: AWS requires "*" for them.
    for statement in statements(stage_policy("prod")):
        actions, resources = statement["Action"], statement["Resource"]
        actions = actions if isinstance(actions, list) else [actions]
        resources = resources if isinstance(resources, list) else [resources]
        if "*" in resources:
            assert set(actions) <= UNSCOPED_ACTIONS, statement
            assert resources == ["*"]
        for resource in resources:
            assert (
                resource == "*"
                or f":{ACCOUNT}:" in resource
                or resource.startswith("arn:aws:s3:::ai-lifestyle-app-attachments-prod")
            ), resource


# Provisioning runs from an operator's machine with deploy credentials.
PROVISIONING = [
    "dynamodb:CreateTable",
    "dynamodb:DeleteTable",
    "dynamodb:UpdateTable",
    "dynamodb:UpdateContinuousBackups",
    "dynamodb:UpdateTimeToLive",
    "s3:CreateBucket",
    "s3:DeleteBucket",
    "s3:PutBucketPolicy",
    "s3:PutBucketVersioning",
    "s3:PutEncryptionConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketPublicAccessBlock",
    "cognito-idp:CreateUserPool",
    "cognito-idp:CreateUserPoolClient",
    "cognito-idp:CreateGroup",
    "cognito-idp:AdminCreateUser",
    "cognito-idp:AdminSetUserPassword",
    "cognito-idp:AdminAddUserToGroup",
    # (cognito-idp:AdminDeleteUser is granted: a user deletes their own account.)
    "secretsmanager:PutSecretValue",
    "iam:PassRole",
    "lambda:InvokeFunction",
]


@pytest.mark.parametrize("action", PROVISIONING)
def test_provisioning_is_not_granted(action: str) -> None:
    policy = stage_policy("prod")
    service = action.split(":")[0]
    resources = {
        "dynamodb": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/ai-lifestyle-app-goals-prod",
        "s3": "arn:aws:s3:::ai-lifestyle-app-attachments-prod",
        "cognito-idp": f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{POOL}",
    }
    assert not is_allowed(policy, action, resources.get(service, "*"))


def test_reaches_no_other_table_bucket_pool_or_secret() -> None:
    policy = stage_policy("prod")
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table"
    assert is_allowed(policy, "dynamodb:GetItem", f"{arn}/ai-lifestyle-app-goals-prod")
    assert not is_allowed(policy, "dynamodb:GetItem", f"{arn}/ai-lifestyle-app-goals-dev")
    assert not is_allowed(policy, "dynamodb:GetItem", f"{arn}/ai-lifestyle-app-goals-prodx")
    assert is_allowed(policy, "dynamodb:Query", f"{arn}/ai-lifestyle-app-goals-prod/index/by_time")
    # migrate_data scans the live table itself, never its indexes or another table.
    assert is_allowed(policy, "dynamodb:Scan", f"{arn}/ai-lifestyle-app-goals-prod")
    assert not is_allowed(policy, "dynamodb:Scan", f"{arn}/ai-lifestyle-app-goals-prod/index/x")
    assert not is_allowed(policy, "dynamodb:Scan", f"{arn}/ai-lifestyle-app-goals-dev")
    assert is_allowed(policy, "dynamodb:Scan", f"{arn}/ai-lifestyle-app-goals-prod-restored-1")
    bucket = "arn:aws:s3:::ai-lifestyle-app-attachments-prod"
    assert is_allowed(policy, "s3:GetObject", f"{bucket}/users/u1/activities/a1/x.png")
    assert not is_allowed(policy, "s3:GetObject", f"{bucket}/exports/all.csv")
    assert not is_allowed(policy, "s3:GetObject", "arn:aws:s3:::ai-lifestyle-app-zappa-prod/x")
    assert is_allowed(policy, "s3:ListBucket", bucket, {"s3:prefix": "users/u1/"})
    assert not is_allowed(policy, "s3:ListBucket", bucket, {"s3:prefix": "exports/"})
    # HEAD of a missing object: S3 answers 404 (not 403) only to a caller it
    # would let list the bucket, and that check carries no prefix.
    assert is_allowed(policy, "s3:ListBucket", bucket)
    pool = f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool"
    assert is_allowed(policy, "cognito-idp:AdminDisableUser", f"{pool}/{POOL}")
    assert not is_allowed(policy, "cognito-idp:AdminDisableUser", f"{pool}/us-east-1_Other")
    secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ai-lifestyle-app"
    assert is_allowed(policy, "secretsmanager:GetSecretValue", f"{secret}/prod-AbCdEf")
    assert not is_allowed(policy, "secretsmanager:GetSecretValue", f"{secret}/dev-AbCdEf")
    assert not is_allowed(policy, "secretsmanager:GetSecretValue", f"{secret}/prod-admin-AbCdEf")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("account_id", "12345"),
        ("account_id", "*"),
        ("user_pool_id", "us-east-1_*"),
        ("user_pool_id", "eu-west-1_Abc"),  # not the stage's region
        ("table", "goals-*"),
        ("bucket", "Bad_Bucket"),
        ("secret_name", 'x"}'),
    ],
)
def test_refuses_values_that_would_widen_or_break_the_policy(field: str, value: str) -> None:
    target = target_for_stage("dev", account_id=ACCOUNT, user_pool_id=POOL).__dict__
    with pytest.raises(PolicyError, match=field.replace("_", " ")):
        PolicyTarget(**{**target, field: value})


def test_refuses_a_template_with_an_unknown_placeholder(tmp_path: Path) -> None:
    template = tmp_path / "policy.json"
    template.write_text(TEMPLATE.read_text().replace("{{bucket}}", "{{bukket}}"))
    target = target_for_stage("dev", account_id=ACCOUNT, user_pool_id=POOL)
    with pytest.raises(PolicyError, match="unknown placeholder"):
        render_policy(target, template)


def test_lambda_policy_command_writes_the_file_zappa_attaches(tmp_path: Path) -> None:
    output = tmp_path / "lambda-policy.prod.json"
    call_command(
        "lambda_policy",
        "--stage=prod",
        f"--account-id={ACCOUNT}",
        f"--user-pool-id={POOL}",
        f"--output={output}",
        stdout=io.StringIO(),
    )
    assert json.loads(output.read_text()) == stage_policy("prod")


@pytest.mark.parametrize(
    "arguments",
    [
        ["--stage=staging", f"--account-id={ACCOUNT}", f"--user-pool-id={POOL}"],
        ["--stage=prod", "--account-id=1234", f"--user-pool-id={POOL}"],
    ],
    ids=["unknown-stage", "bad-account"],
)
def test_lambda_policy_command_refuses_bad_arguments(arguments: list[str]) -> None:
    with pytest.raises(CommandError):
        call_command("lambda_policy", *arguments, "--output=-")


# --- Coverage: every request the code makes is allowed ----------------------------


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    params: dict[str, Any]


@pytest.fixture
def recorded() -> Iterator[list[Call]]:
    """Every AWS request botocore makes or presigns while the test runs (at
    botocore internals: the version is pinned in pyproject.toml)."""
    from unittest import mock

    from botocore.client import BaseClient
    from botocore.signers import S3PostPresigner

    calls: list[Call] = []
    make_api_call = BaseClient._make_api_call
    emit_api_params = BaseClient._emit_api_params
    presign_post = S3PostPresigner.generate_presigned_post

    def recording_call(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls.append(Call(self.meta.service_model.service_name, operation, dict(params)))
        return make_api_call(self, operation, params)

    def recording_presign(
        self: BaseClient, api_params: Any, operation_model: Any, context: Any
    ) -> Any:
        # Presigned URLs; a presigned POST passes here as CreateBucket (below).
        if context.get("is_presign_request") and operation_model.name != "CreateBucket":
            service = self.meta.service_model.service_name
            calls.append(Call(service, operation_model.name, dict(api_params)))
        return emit_api_params(self, api_params, operation_model, context)

    def recording_post(
        self: S3PostPresigner,
        request_dict: Any,
        fields: Any = None,
        conditions: Any = None,
        **kwargs: Any,
    ) -> Any:
        bucket = next(
            item["bucket"] for item in conditions if isinstance(item, dict) and "bucket" in item
        )
        calls.append(Call("s3", "PutObject", {"Bucket": bucket, "Key": fields["key"]}))
        return presign_post(self, request_dict, fields=fields, conditions=conditions, **kwargs)

    with (
        mock.patch.object(BaseClient, "_make_api_call", recording_call),
        mock.patch.object(BaseClient, "_emit_api_params", recording_presign),
        mock.patch.object(S3PostPresigner, "generate_presigned_post", recording_post),
    ):
        yield calls


# Cognito operations AWS does not authorize with IAM (public or token-authorized).
COGNITO_WITHOUT_IAM = {"InitiateAuth", "RespondToAuthChallenge", "SignUp", "GetUser"}
# TransactWriteItems has no IAM action of its own: each part is authorized
# as the single-item action it performs, on its own table.
TRANSACTION_PARTS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
# Restores write the new table as the caller: AWS asks for these on it.
RESTORE_WRITES = (
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "GetItem",
    "Query",
    "Scan",
    "BatchWriteItem",
)


def denied_requests(
    recorded: list[Call],
    *,
    table: str,
    user_pool_id: str,
    bucket: str = "ai-lifestyle-app-attachments-test",
) -> list[str]:
    """The recorded requests a test deployment's rendered policy would refuse."""
    policy = render_policy(
        PolicyTarget(
            account_id=ACCOUNT,
            region=REGION,
            function_name="ai-lifestyle-app-test",
            table=table,
            bucket=bucket,
            user_pool_id=user_pool_id,
            secret_name="ai-lifestyle-app/test",
        )
    )
    requested = [request for call in recorded for request in iam_requests(call)]
    return sorted({f"{a} on {r}" for a, r, c in requested if not is_allowed(policy, a, r, c)})


def iam_requests(call: Call) -> list[tuple[str, str, dict[str, str]]]:
    """(action, resource ARN, condition context) AWS authorizes ``call`` by."""
    params, op = call.params, call.operation
    account_region = f"{REGION}:{ACCOUNT}"

    def table(name: str) -> str:
        return f"arn:aws:dynamodb:{account_region}:table/{name}"

    if call.service == "dynamodb":
        if op == "TransactWriteItems":
            return [
                (f"dynamodb:{TRANSACTION_PARTS[kind]}", table(body["TableName"]), {})
                for item in params["TransactItems"]
                for kind, body in item.items()
            ]
        if op == "TransactGetItems":
            return [
                ("dynamodb:GetItem", table(i["Get"]["TableName"]), {})
                for i in params["TransactItems"]
            ]
        if op in ("BatchGetItem", "BatchWriteItem"):
            return [(f"dynamodb:{op}", table(name), {}) for name in params["RequestItems"]]
        if op in ("ListBackups", "ListTables"):
            return [(f"dynamodb:{op}", "*", {})]
        if op in ("DescribeBackup", "DeleteBackup"):
            return [(f"dynamodb:{op}", params["BackupArn"], {})]
        if op in ("RestoreTableFromBackup", "RestoreTableToPointInTime"):
            source = params.get("BackupArn") or table(params["SourceTableName"])
            target = table(params["TargetTableName"])
            writes: list[tuple[str, str, dict[str, str]]] = [
                (f"dynamodb:{action}", target, {}) for action in RESTORE_WRITES
            ]
            return [(f"dynamodb:{op}", source, {}), (f"dynamodb:{op}", target, {}), *writes]
        resource = table(params["TableName"])
        if params.get("IndexName"):
            resource += f"/index/{params['IndexName']}"
        return [(f"dynamodb:{op}", resource, {})]
    if call.service == "s3":
        obj = f"arn:aws:s3:::{params.get('Bucket')}/{params.get('Key')}"
        versioned = "Version" if params.get("VersionId") else ""
        if op in ("HeadObject", "GetObject"):
            return [(f"s3:GetObject{versioned}", obj, {})]
        if op in ("PutObject", "DeleteObject"):
            return [(f"s3:{op}{versioned}", obj, {})]
        if op in ("ListObjects", "ListObjectsV2", "HeadBucket"):
            context = {"s3:prefix": params["Prefix"]} if "Prefix" in params else {}
            return [("s3:ListBucket", f"arn:aws:s3:::{params['Bucket']}", context)]
        if op == "ListObjectVersions":
            context = {"s3:prefix": params["Prefix"]} if "Prefix" in params else {}
            return [("s3:ListBucketVersions", f"arn:aws:s3:::{params['Bucket']}", context)]
        if op == "DeleteObjects":  # authorized per object, as its DeleteObject(Version)
            return [
                (
                    f"s3:DeleteObject{'Version' if entry.get('VersionId') else ''}",
                    f"arn:aws:s3:::{params['Bucket']}/{entry['Key']}",
                    {},
                )
                for entry in params["Delete"]["Objects"]
            ]
    if call.service == "cognito-idp":
        if op in COGNITO_WITHOUT_IAM:
            return []
        return [
            (
                f"cognito-idp:{op}",
                f"arn:aws:cognito-idp:{account_region}:userpool/{params['UserPoolId']}",
                {},
            )
        ]
    if call.service == "secretsmanager" and op == "GetSecretValue":
        # Secrets Manager adds six random characters to every secret's ARN.
        return [
            (
                f"secretsmanager:{op}",
                f"arn:aws:secretsmanager:{account_region}:secret:{params['SecretId']}-AbCdEf",
                {},
            )
        ]
    raise AssertionError(f"Map {call.service}.{op} to its IAM action(s) in iam_requests().")


# Granted but not made by the flow, each with its reason. Anything else
# granted on our resources must be exercised, or it goes.
NOT_IN_THE_FLOW = {
    "logs:CreateLogGroup": "Lambda writes the function's logs with the role",
    "logs:CreateLogStream": "Lambda writes the function's logs with the role",
    "logs:PutLogEvents": "Lambda writes the function's logs with the role",
    "xray:PutTraceSegments": "Lambda sends the traces (xray_tracing) with the role",
    "xray:PutTelemetryRecords": "Lambda sends the traces (xray_tracing) with the role",
    "dynamodb:DescribeTable": "runbook health/backup commands run through `zappa manage`",
    "dynamodb:DescribeContinuousBackups": "runbook health check (PITR on?)",
    "dynamodb:CreateBackup": "runbook backup commands",
    "dynamodb:ListBackups": "runbook backup commands",
    "dynamodb:ListTables": "the console's Backups page lists restored copies",
    "dynamodb:DescribeBackup": "runbook backup commands",
    "dynamodb:DeleteBackup": "runbook backup commands",
    "dynamodb:RestoreTableFromBackup": "runbook restore, always to a new table",
    "dynamodb:RestoreTableToPointInTime": "runbook restore, always to a new table",
    "dynamodb:BatchWriteItem": "restores; account deletion: tests/accounts/test_deletion.py",
    "dynamodb:Scan": "restores read the restored table; migrate_data scans the live one",
    "s3:GetObjectVersion": "attachments are versioned: recovering an old version",
    "s3:DeleteObjectVersion": "attachments are versioned: purging a deleted file",
    "s3:ListBucketVersions": "account deletion: tests/accounts/test_deletion.py",
    "cognito-idp:AdminDeleteUser": "account deletion: tests/accounts/test_deletion.py",
    "lambda:InvokeFunction": "exports run asynchronously: tests/accounts/test_export.py",
    "s3:AbortMultipartUpload": "a failed upload of a large export: tests/accounts/test_export.py",
    "cognito-idp:AdminGetUser": "disabling users and the staff console",
    "cognito-idp:AdminDisableUser": "disabling users and the staff console",
    "cognito-idp:AdminEnableUser": "disabling users and the staff console",
    "cognito-idp:AdminUserGlobalSignOut": "disabling users and the staff console",
    "cognito-idp:AdminListGroupsForUser": "disabling users and the staff console",
    "cognito-idp:ListUsers": "disabling users and the staff console",
    "cognito-idp:DescribeUserPool": "runbook health check (pool reachable?)",
    "dynamodb:DescribeTimeToLive": "health_check (TTL on?): tests/lifestyle/test_health_check.py",
    "s3:GetBucketVersioning": "security_check: tests/lifestyle/test_security_check.py",
    "s3:GetEncryptionConfiguration": "security_check: tests/lifestyle/test_security_check.py",
    "s3:GetBucketPublicAccessBlock": "security_check: tests/lifestyle/test_security_check.py",
}


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def representative_flow(api: APIClient, secret_id: str) -> None:
    """A cold start and a user's day: each step is a request the mobile app makes."""
    secrets.forget()
    environ = {
        "LIFESTYLE_SECRET_ID": secret_id,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": settings.AWS_ENDPOINT_URL,
    }
    assert secrets.load_secrets(environ) == ["DJANGO_SECRET_KEY"]

    def ok(response: Any, status: int = 200) -> Any:
        assert response.status_code == status, response.content
        return response.json() if response.content else None

    goal = ok(
        api.post("/api/v1/goals", {"title": "Walk", "kind": "count", "target": "5"}, "json"), 201
    )
    goal_url = f"/api/v1/goals/{goal['id']}"
    ok(api.get("/api/v1/goals"))
    ok(api.get(goal_url))
    ok(api.patch(goal_url, {"title": "Walk more"}, "json", HTTP_IF_MATCH='"1"'))
    when = datetime.now(UTC).isoformat()
    activity = ok(
        api.post(f"{goal_url}/activities", {"occurred_at": when, "value": 2}, "json"), 201
    )
    activity_url = f"/api/v1/activities/{activity['id']}"
    ok(api.get(f"{goal_url}/activities"))
    ok(api.get("/api/v1/activities"))
    ok(api.get(activity_url))
    ok(api.patch(activity_url, {"value": 3}, "json", HTTP_IF_MATCH='"1"'))
    ok(api.get(f"{goal_url}/progress"))
    ok(api.get("/api/v1/progress"))

    attachments = f"{activity_url}/attachments"
    for keep in (False, True):
        started = ok(
            api.post(attachments, {"content_type": "image/png", "size": len(PNG)}, "json"), 201
        )
        upload = started["upload"]
        sent = requests.post(
            upload["url"], data=upload["fields"], files={"file": ("p.png", PNG)}, timeout=10
        )
        assert sent.status_code == 204, sent.text
        ok(api.post(f"{attachments}/{started['id']}/confirm"))
        ok(api.get(attachments))
        if not keep:
            ok(api.delete(f"{attachments}/{started['id']}"), 204)
    ok(api.post(f"{goal_url}/archive"))
    ok(api.post(f"{goal_url}/unarchive"))
    ok(api.delete(activity_url), 204)  # its remaining attachment goes with it


def test_the_policy_allows_every_request_the_code_makes(
    api: APIClient, aws_stack: dict[str, str], recorded: list[Call]
) -> None:
    secret_id = f"ai-lifestyle-app/test-{uuid.uuid4().hex[:8]}"
    boto3.session.Session().client(
        "secretsmanager", region_name=REGION, endpoint_url=aws_stack["endpoint"]
    ).create_secret(Name=secret_id, SecretString=json.dumps({"DJANGO_SECRET_KEY": "k"}))
    recorded.clear()

    representative_flow(api, secret_id)

    policy = render_policy(
        PolicyTarget(
            account_id=ACCOUNT,
            region=REGION,
            function_name="ai-lifestyle-app-test",
            table=settings.DYNAMODB_TABLE,
            bucket=settings.AWS_STORAGE_BUCKET_NAME,
            user_pool_id=aws_stack["user_pool_id"],
            secret_name=secret_id,
        )
    )
    requested = [(call, request) for call in recorded for request in iam_requests(call)]
    denied = sorted(
        {
            f"{call.service}.{call.operation} -> {action} on {resource} {context or ''}"
            for call, (action, resource, context) in requested
            if not is_allowed(policy, action, resource, context)
        }
    )
    assert not denied, "\n".join(denied)

    operations = {f"{call.service}.{call.operation}" for call in recorded}
    # The flow is representative: reads, writes, transactions, indexes, S3.
    assert {
        "secretsmanager.GetSecretValue",
        "dynamodb.PutItem",
        "dynamodb.UpdateItem",
        "dynamodb.GetItem",
        "dynamodb.Query",
        "dynamodb.BatchGetItem",
        "dynamodb.TransactWriteItems",
        "s3.PutObject",  # the presigned POST form
        "s3.HeadObject",
        "s3.GetObject",  # the presigned download URL
        "s3.DeleteObject",
        "s3.ListObjects",
    } <= operations, operations
    assert any("IndexName" in call.params for call in recorded)

    exercised = {action for _, (action, _, _) in requested}
    unexplained = granted_actions(policy) - exercised - set(NOT_IN_THE_FLOW)
    assert not unexplained, f"granted, never used and not explained: {sorted(unexplained)}"
    assert not exercised & set(NOT_IN_THE_FLOW), "now exercised: drop it from NOT_IN_THE_FLOW"
