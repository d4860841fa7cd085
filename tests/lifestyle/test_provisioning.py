"""``manage.py provision`` creates what the product needs, to spec, is safe
to run again, repairs drift in place, and with ``--check`` reports drift
without changing anything."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import socket
import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.test.utils import override_settings

from lifestyle.aws import client, reset_clients
from lifestyle.provisioning import (
    DRIFT,
    MISSING,
    OK,
    TTL_ATTRIBUTE,
    Finding,
    check,
    ensure_table,
    provision,
    table_findings,
    table_spec,
)


def delete_scratch(table: str, bucket: str, pool_name: str) -> None:
    """Remove what a test made under scratch names (whatever exists of it)."""
    from botocore.exceptions import ClientError

    dynamodb, s3, cognito = client("dynamodb"), client("s3"), client("cognito-idp")
    with contextlib.suppress(dynamodb.exceptions.ResourceNotFoundException):
        dynamodb.delete_table(TableName=table)
    try:
        versions = s3.list_object_versions(Bucket=bucket)
        for entry in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=entry["Key"], VersionId=entry["VersionId"])
        s3.delete_bucket(Bucket=bucket)
    except ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchBucket":
            raise
    for pool in cognito.list_user_pools(MaxResults=60)["UserPools"]:
        if pool["Name"] == pool_name:
            cognito.delete_user_pool(UserPoolId=pool["Id"])


@pytest.fixture
def fresh_names() -> Iterator[dict[str, str]]:
    """Settings naming a table, bucket and pool that do not exist yet; all
    three are deleted after the test."""
    suffix = uuid.uuid4().hex[:8]
    names = {
        "DYNAMODB_TABLE": f"provision-test-{suffix}",
        "AWS_STORAGE_BUCKET_NAME": f"provision-test-{suffix}",
        "COGNITO_USER_POOL_NAME": f"provision-test-{suffix}",
    }
    with override_settings(**names):
        yield names
    delete_scratch(*names.values())


@pytest.fixture
def scratch_stack(fresh_names: dict[str, str]) -> Iterator[dict[str, str]]:
    """A provisioned scratch stack, with the settings pointing at it."""
    stack = provision()
    with override_settings(
        COGNITO_USER_POOL_ID=stack.user_pool_id, COGNITO_APP_CLIENT_ID=stack.app_client_id
    ):
        yield {
            **fresh_names,
            "user_pool_id": stack.user_pool_id,
            "app_client_id": stack.app_client_id,
        }


def introduce_drift(stack: dict[str, str]) -> None:
    """What an operator's console click (or an old stack) leaves behind."""
    table, bucket = stack["DYNAMODB_TABLE"], stack["AWS_STORAGE_BUCKET_NAME"]
    dynamodb, s3 = client("dynamodb"), client("s3")
    dynamodb.update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    dynamodb.update_time_to_live(
        TableName=table,
        TimeToLiveSpecification={"Enabled": False, "AttributeName": TTL_ATTRIBUTE},
    )
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    s3.delete_public_access_block(Bucket=bucket)


def run_check(*arguments: str) -> tuple[str, CommandError | None]:
    out = io.StringIO()
    try:
        call_command("provision", "--check", *arguments, stdout=out)
    except CommandError as error:
        return out.getvalue(), error
    return out.getvalue(), None


def run_manage(*argv: str) -> int:
    """``manage.py <argv>`` in this process, as a shell runs it (system
    checks, CommandError turned into a message and an exit status)."""
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(["manage.py", *argv])
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def lines_with(text: str, status: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(status)]


# --- Creating ----------------------------------------------------------------------


def test_provision_creates_everything_to_spec(fresh_names: dict[str, str]) -> None:
    stack = provision()
    assert stack.remaining == ()

    dynamodb = client("dynamodb")
    table = dynamodb.describe_table(TableName=stack.table)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert [key["AttributeName"] for key in table["KeySchema"]] == ["pk", "sk"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSEDescription"]["Status"] == "ENABLED"
    assert {index["IndexName"] for index in table["LocalSecondaryIndexes"]} == {
        "by_goal_time",
        "by_time",
    }
    backups = dynamodb.describe_continuous_backups(TableName=stack.table)
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"
    ttl = dynamodb.describe_time_to_live(TableName=stack.table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}

    s3 = client("s3")
    assert s3.get_bucket_versioning(Bucket=stack.bucket)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=stack.bucket)["ServerSideEncryptionConfiguration"]
    assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=stack.bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    assert len(block) == 4
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=stack.bucket)["Rules"]
    assert {rule["ID"]: rule["NoncurrentVersionExpiration"] for rule in lifecycle} == {
        "expire-old-versions": {"NoncurrentDays": 30},
        "expire-exports": {"NoncurrentDays": 1},
    }

    cognito = client("cognito-idp")
    app = cognito.describe_user_pool_client(
        UserPoolId=stack.user_pool_id, ClientId=stack.app_client_id
    )["UserPoolClient"]
    assert "ALLOW_USER_PASSWORD_AUTH" in app["ExplicitAuthFlows"]
    assert "ClientSecret" not in app
    assert app["EnableTokenRevocation"] is True
    groups = cognito.list_groups(UserPoolId=stack.user_pool_id)["Groups"]
    assert {group["GroupName"] for group in groups} == {"ops-support", "ops-admin"}


def test_provision_twice_changes_nothing_and_finds_the_same_resources(
    fresh_names: dict[str, str], aws_calls: Any
) -> None:
    first = provision()
    lines: list[str] = []
    aws_calls.clear()
    second = provision(report=lines.append)
    assert second == first
    assert f"table {first.table}: exists" in lines
    assert f"bucket {first.bucket}: exists" in lines
    assert not [line for line in lines if "created" in line or "turned on" in line]
    pools = client("cognito-idp").list_user_pools(MaxResults=60)["UserPools"]
    assert [p["Name"] for p in pools].count(fresh_names["COGNITO_USER_POOL_NAME"]) == 1
    # A second run only reads.
    writes = [
        call
        for call in aws_calls
        if not call.split(".")[1].startswith(("Describe", "Get", "List", "Head"))
    ]
    assert writes == []


def test_provision_command_prints_the_ids_to_configure(fresh_names: dict[str, str]) -> None:
    out = io.StringIO()
    call_command("provision", stdout=out)
    text = out.getvalue()
    assert "Provisioned." in text
    pool_line = next(line for line in text.splitlines() if line.startswith("COGNITO_USER_POOL_ID="))
    assert pool_line.split("=", 1)[1].startswith("us-east-1_")


def test_table_spec_is_a_fresh_copy_that_create_table_takes(fresh_names: dict[str, str]) -> None:
    name = fresh_names["DYNAMODB_TABLE"]
    spec = table_spec(name)
    spec["LocalSecondaryIndexes"].clear()  # a caller's change stays its own
    assert len(table_spec(name)["LocalSecondaryIndexes"]) == 2
    client("dynamodb").create_table(**table_spec(name))  # the restore drill's use
    findings = table_findings(name)
    # The spec's shape, but PITR and TTL are not CreateTable arguments.
    assert {f.setting for f in findings if not f.ok} == {
        "point-in-time recovery",
        f"TTL on {TTL_ATTRIBUTE}",
    }


# --- Checking ----------------------------------------------------------------------


def test_check_on_a_stack_to_spec_reports_every_setting_ok(scratch_stack: dict[str, str]) -> None:
    text, error = run_check()
    assert error is None, text
    assert lines_with(text, DRIFT) == lines_with(text, MISSING) == []
    settings_seen = {line.split(" - ", 1)[1].split(":")[0] for line in lines_with(text, OK)}
    assert {
        "exists",
        "keys",
        "local index by_goal_time",
        "local index by_time",
        "billing mode",
        "encryption",
        "point-in-time recovery",
        "TTL on expires_at",
        "public-access block",
        "versioning",
        "default encryption",
        "lifecycle rule expire-old-versions",
        "no secret",
        "auth flows",
        "token revocation",
    } <= settings_seen
    assert "All" in text.splitlines()[-1]


def test_check_reports_drift_changes_nothing_and_provision_repairs_it(
    scratch_stack: dict[str, str], aws_calls: Any
) -> None:
    introduce_drift(scratch_stack)
    table, bucket = scratch_stack["DYNAMODB_TABLE"], scratch_stack["AWS_STORAGE_BUCKET_NAME"]

    aws_calls.clear()
    text, error = run_check()
    assert error is not None
    assert "4 settings differ from the spec" in str(error)
    assert "fixes 4 of them" in str(error)
    assert all(
        operation.split(".")[1].startswith(("Describe", "Get", "List", "Head"))
        for operation in aws_calls
    ), aws_calls
    drift = lines_with(text, DRIFT)
    assert f"DRIFT   table {table} - point-in-time recovery: DISABLED, spec ENABLED" in drift
    assert f"DRIFT   table {table} - TTL on expires_at: DISABLED, spec ENABLED" in drift
    assert f"DRIFT   bucket {bucket} - versioning: Suspended, spec Enabled" in drift
    assert any(line.startswith(f"DRIFT   bucket {bucket} - public-access block") for line in drift)
    assert len(drift) == 4

    lines: list[str] = []
    assert provision(report=lines.append).remaining == ()
    assert f"table {table}: point-in-time recovery turned on" in lines
    assert f"table {table}: TTL turned on for expires_at" in lines
    assert f"bucket {bucket}: versioning turned on" in lines
    assert f"bucket {bucket}: public access blocked (all four flags)" in lines
    assert run_check()[1] is None


def test_check_reports_a_missing_stack_and_creates_nothing(fresh_names: dict[str, str]) -> None:
    text, error = run_check()
    assert error is not None
    assert lines_with(text, MISSING) == [
        f"MISSING table {fresh_names['DYNAMODB_TABLE']} - exists: no such table",
        f"MISSING bucket {fresh_names['AWS_STORAGE_BUCKET_NAME']} - exists: no such bucket",
        f"MISSING user pool {fresh_names['COGNITO_USER_POOL_NAME']} - exists: no pool with this "
        "name (and so no app client or groups)",
    ]
    assert all(finding.status == MISSING for finding in check())


def test_the_command_line_exits_non_zero_while_anything_drifts(
    scratch_stack: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    client("s3").put_bucket_versioning(
        Bucket=scratch_stack["AWS_STORAGE_BUCKET_NAME"],
        VersioningConfiguration={"Status": "Suspended"},
    )
    assert run_manage("provision", "--check") == 1
    captured = capsys.readouterr()
    assert "CommandError: 1 settings differ from the spec" in captured.err
    assert run_manage("provision") == 0
    assert "versioning turned on" in capsys.readouterr().out
    assert run_manage("provision", "--check") == 0


def test_aws_errors_are_a_message_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    try:
        with override_settings(AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_MAX_ATTEMPTS=1):
            reset_clients()
            assert run_manage("provision", "--check") == 1
    finally:
        reset_clients()
    err = capsys.readouterr().err
    assert err.startswith("CommandError: EndpointConnectionError: Could not connect")
    assert "Traceback" not in err


def test_check_as_json(scratch_stack: dict[str, str]) -> None:
    client("s3").put_bucket_versioning(
        Bucket=scratch_stack["AWS_STORAGE_BUCKET_NAME"],
        VersioningConfiguration={"Status": "Suspended"},
    )
    text, error = run_check("--json")
    assert error is not None
    document = json.loads(text)
    assert document["ok"] is False
    off = [finding for finding in document["findings"] if finding["status"] != OK]
    assert off == [
        {
            "kind": "bucket",
            "name": scratch_stack["AWS_STORAGE_BUCKET_NAME"],
            "setting": "versioning",
            "status": "DRIFT",
            "detail": "Suspended, spec Enabled",
            "fixable": True,
        }
    ]


def test_dry_run_is_check(fresh_names: dict[str, str]) -> None:
    with pytest.raises(CommandError, match="differ from the spec"):
        call_command("provision", "--dry-run", stdout=io.StringIO())
    assert not check()[0].ok  # still nothing there


def test_json_without_check_is_refused(fresh_names: dict[str, str]) -> None:
    with pytest.raises(CommandError, match="--json goes with --check"):
        call_command("provision", "--json", stdout=io.StringIO())


# --- What provision repairs in place, and what it cannot ------------------------------


def test_a_table_missing_a_local_index_needs_a_new_table(fresh_names: dict[str, str]) -> None:
    """LSIs exist only from creation: provision says so (and fails) rather
    than pretending, while still repairing what it can."""
    name = fresh_names["DYNAMODB_TABLE"]
    old = table_spec(name)
    old["LocalSecondaryIndexes"] = old["LocalSecondaryIndexes"][:1]  # no by_time
    old["AttributeDefinitions"] = [
        a for a in old["AttributeDefinitions"] if a["AttributeName"] != "time_key"
    ]
    client("dynamodb").create_table(**old)

    text, error = run_check()
    assert error is not None
    index_line = next(line for line in text.splitlines() if "local index by_time" in line)
    assert index_line.startswith(f"DRIFT   table {name} - local index by_time: missing")
    assert "create a new table from table_spec() and migrate the data" in index_line

    out = io.StringIO()
    with pytest.raises(CommandError, match="1 settings cannot be brought to spec in place"):
        call_command("provision", stdout=out)
    assert f"table {name}: point-in-time recovery turned on" in out.getvalue()
    assert "local index by_time: missing" in out.getvalue()
    assert [f.setting for f in table_findings(name) if not f.ok] == ["local index by_time"]


def test_an_old_table_is_upgraded_in_place(fresh_names: dict[str, str]) -> None:
    """A table from before the spec: provisioned capacity, the default
    AWS-owned key, no PITR, no TTL."""
    name = fresh_names["DYNAMODB_TABLE"]
    old = table_spec(name)
    del old["SSESpecification"]
    old["BillingMode"] = "PROVISIONED"
    old["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    client("dynamodb").create_table(**old)
    before = {f.setting: f for f in table_findings(name)}
    assert before["encryption"].status == DRIFT
    assert before["encryption"].detail == "AWS-owned key (the default), spec KMS"
    assert before["billing mode"].detail == "PROVISIONED, spec PAY_PER_REQUEST"

    sent: list[tuple[str, dict[str, Any]]] = []
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def recording(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        sent.append((operation, params))
        return original(self, operation, params)

    lines: list[str] = []
    with mock.patch.object(BaseClient, "_make_api_call", recording):
        ensure_table(name, lines.append)
    assert ("UpdateTable", {"TableName": name, "BillingMode": "PAY_PER_REQUEST"}) in sent
    assert (
        "UpdateTable",
        {"TableName": name, "SSESpecification": {"Enabled": True, "SSEType": "KMS"}},
    ) in sent
    assert f"table {name}: encryption switched to KMS" in lines
    after = {f.setting: f for f in table_findings(name)}
    assert after["billing mode"].ok
    assert after["point-in-time recovery"].ok
    assert after[f"TTL on {TTL_ATTRIBUTE}"].ok
    # moto accepts UpdateTable's SSESpecification but does not apply it
    # (AWS does, in place): the request above is what can be checked here.
    assert after["encryption"].status == DRIFT


def test_missing_global_indexes_are_added(fresh_names: dict[str, str]) -> None:
    name = fresh_names["DYNAMODB_TABLE"]
    client("dynamodb").create_table(**table_spec(name))
    spec = table_spec(name)
    spec["AttributeDefinitions"].append({"AttributeName": "email", "AttributeType": "S"})
    spec["GlobalSecondaryIndexes"] = [
        *spec["GlobalSecondaryIndexes"],
        {
            "IndexName": "by_email",
            "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        },
    ]
    missing = [f for f in table_findings(name, spec) if f.setting == "global index by_email"]
    assert [(f.status, f.fix is not None) for f in missing] == [(MISSING, True)]

    lines: list[str] = []
    ensure_table(name, lines.append, spec=copy.deepcopy(spec))
    assert f"table {name}: global index by_email added" in lines
    indexes = client("dynamodb").describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"]
    assert sorted(index["IndexName"] for index in indexes) == ["by_change", "by_email"]
    assert all(f.ok for f in table_findings(name, spec))
    # The product's spec declares none: an index it does not know is drift,
    # and provision never deletes one.
    extra = [f for f in table_findings(name) if f.setting == "global index by_email"]
    assert [(f.status, f.fix) for f in extra] == [(DRIFT, None)]


def test_ttl_on_another_attribute_is_reported_not_switched(fresh_names: dict[str, str]) -> None:
    name = fresh_names["DYNAMODB_TABLE"]
    client("dynamodb").create_table(**table_spec(name))
    client("dynamodb").update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "gone_at"}
    )
    ttl = next(f for f in table_findings(name) if f.setting.startswith("TTL"))
    assert (ttl.status, ttl.fix) == (DRIFT, None)
    assert ttl.detail.startswith("ENABLED on gone_at")


def test_lifecycle_repair_keeps_other_rules(scratch_stack: dict[str, str]) -> None:
    bucket = scratch_stack["AWS_STORAGE_BUCKET_NAME"]
    theirs = {
        "ID": "expire-exports",
        "Status": "Enabled",
        "Filter": {"Prefix": "exports/"},
        "Expiration": {"Days": 7},
    }
    client("s3").put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": [theirs]}
    )
    text, error = run_check()
    assert error is not None
    assert f"DRIFT   bucket {bucket} - lifecycle rule expire-old-versions: missing" in text
    provision()
    rules = client("s3").get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [rule["ID"] for rule in rules] == ["expire-exports", "expire-old-versions"]


def test_app_client_and_groups_are_brought_to_spec(scratch_stack: dict[str, str]) -> None:
    cognito = client("cognito-idp")
    pool_id, client_id = scratch_stack["user_pool_id"], scratch_stack["app_client_id"]
    cognito.update_user_pool_client(
        UserPoolId=pool_id,
        ClientId=client_id,
        ClientName="lifestyle-mobile",
        ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH"],
        EnableTokenRevocation=False,
    )
    cognito.delete_group(UserPoolId=pool_id, GroupName="ops-admin")
    off = {(f.kind, f.setting): f for f in check() if not f.ok}
    assert set(off) == {
        ("app client", "auth flows"),
        ("app client", "token revocation"),
        ("group", "exists"),
    }
    assert off[("app client", "auth flows")].detail == (
        "ALLOW_USER_PASSWORD_AUTH, ALLOW_REFRESH_TOKEN_AUTH not allowed"
    )

    lines: list[str] = []
    stack = provision(report=lines.append)
    assert stack.remaining == ()
    assert stack.app_client_id == client_id  # repaired, not replaced
    assert "group ops-admin: created" in lines
    assert (
        lines.count("app client lifestyle-mobile: sign-in flows and token revocation set to spec")
        == 1
    )


def test_findings_say_what_they_are() -> None:
    finding = Finding("bucket", "b", "versioning", DRIFT, "Suspended, spec Enabled")
    assert finding.line() == "DRIFT   bucket b - versioning: Suspended, spec Enabled"
    assert Finding("group", "g", "exists", OK).line() == "ok      group g - exists"
