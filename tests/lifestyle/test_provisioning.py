"""``manage.py provision`` creates what the product needs, to spec, and is
safe to run again."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.test.utils import override_settings

from lifestyle.aws import client
from lifestyle.provisioning import provision


@pytest.fixture
def fresh_names() -> Iterator[dict[str, str]]:
    suffix = uuid.uuid4().hex[:8]
    names = {
        "DYNAMODB_TABLE": f"provision-test-{suffix}",
        "AWS_STORAGE_BUCKET_NAME": f"provision-test-{suffix}",
        "COGNITO_USER_POOL_NAME": f"provision-test-{suffix}",
    }
    with override_settings(**names):
        yield names


def test_provision_creates_everything_to_spec(fresh_names: dict[str, str]) -> None:
    stack = provision()

    dynamodb = client("dynamodb")
    table = dynamodb.describe_table(TableName=stack.table)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert [key["AttributeName"] for key in table["KeySchema"]] == ["pk", "sk"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSEDescription"]["Status"] == "ENABLED"
    backups = dynamodb.describe_continuous_backups(TableName=stack.table)
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"

    s3 = client("s3")
    assert s3.get_bucket_versioning(Bucket=stack.bucket)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=stack.bucket)["ServerSideEncryptionConfiguration"]
    assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=stack.bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    assert len(block) == 4

    cognito = client("cognito-idp")
    app = cognito.describe_user_pool_client(
        UserPoolId=stack.user_pool_id, ClientId=stack.app_client_id
    )["UserPoolClient"]
    assert "ALLOW_USER_PASSWORD_AUTH" in app["ExplicitAuthFlows"]
    assert "ClientSecret" not in app
    groups = cognito.list_groups(UserPoolId=stack.user_pool_id)["Groups"]
    assert {group["GroupName"] for group in groups} == {"ops-support", "ops-admin"}


def test_provision_twice_changes_nothing_and_finds_the_same_resources(
    fresh_names: dict[str, str],
) -> None:
    first = provision()
    lines: list[str] = []
    second = provision(report=lines.append)
    assert second == first
    assert f"table {first.table}: exists" in lines
    assert not [line for line in lines if "created" in line]
    pools = client("cognito-idp").list_user_pools(MaxResults=60)["UserPools"]
    assert [p["Name"] for p in pools].count(fresh_names["COGNITO_USER_POOL_NAME"]) == 1


def test_provision_repairs_drift(fresh_names: dict[str, str]) -> None:
    stack = provision()
    client("dynamodb").update_continuous_backups(
        TableName=stack.table,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False},
    )
    client("s3").put_bucket_versioning(
        Bucket=stack.bucket, VersioningConfiguration={"Status": "Suspended"}
    )
    lines: list[str] = []
    provision(report=lines.append)
    assert f"table {stack.table}: point-in-time recovery turned on" in lines
    assert client("s3").get_bucket_versioning(Bucket=stack.bucket)["Status"] == "Enabled"


def test_provision_command_prints_the_ids_to_configure(fresh_names: dict[str, str]) -> None:
    out = io.StringIO()
    call_command("provision", stdout=out)
    text = out.getvalue()
    assert "Provisioned." in text
    pool_line = next(line for line in text.splitlines() if line.startswith("COGNITO_USER_POOL_ID="))
    assert pool_line.split("=", 1)[1].startswith("us-east-1_")
