"""Create the product's AWS resources, or bring existing ones up to spec.

Every step is idempotent: it looks before it creates and re-applies the
settings that matter (point-in-time recovery, encryption, versioning,
public-access block) so running it again repairs drift. The same code runs
against moto's server on a laptop and against a real AWS account.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from lifestyle.aws import client

Report = Callable[[str], None]


@dataclass(frozen=True)
class Stack:
    table: str
    bucket: str
    user_pool_id: str
    app_client_id: str


def provision(report: Report = lambda line: None) -> Stack:
    table = ensure_table(settings.DYNAMODB_TABLE, report)
    bucket = ensure_bucket(settings.AWS_STORAGE_BUCKET_NAME, report)
    pool_id = ensure_user_pool(settings.COGNITO_USER_POOL_NAME, report)
    client_id = ensure_app_client(pool_id, settings.COGNITO_APP_CLIENT_NAME, report)
    for group in settings.STAFF_GROUPS:
        ensure_group(pool_id, group, report)
    return Stack(table=table, bucket=bucket, user_pool_id=pool_id, app_client_id=client_id)


# --- DynamoDB ------------------------------------------------------------------

KEY_SCHEMA = [
    {"AttributeName": "pk", "KeyType": "HASH"},
    {"AttributeName": "sk", "KeyType": "RANGE"},
]
ATTRIBUTES = [
    {"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "goal_time", "time_key")
]
# Local secondary indexes exist only if the table is created with them: a
# goal's activities in time order, and all activities in time order.
LOCAL_INDEXES = [
    {
        "IndexName": index,
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": sort_key, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }
    for index, sort_key in (("by_goal_time", "goal_time"), ("by_time", "time_key"))
]


def ensure_table(name: str, report: Report) -> str:
    dynamodb = client("dynamodb")
    try:
        dynamodb.describe_table(TableName=name)
        report(f"table {name}: exists")
    except dynamodb.exceptions.ResourceNotFoundException:
        dynamodb.create_table(
            TableName=name,
            KeySchema=KEY_SCHEMA,
            AttributeDefinitions=ATTRIBUTES,
            LocalSecondaryIndexes=LOCAL_INDEXES,
            BillingMode="PAY_PER_REQUEST",
            SSESpecification={"Enabled": True, "SSEType": "KMS"},
            Tags=[{"Key": "app", "Value": "ai-lifestyle-app"}],
        )
        dynamodb.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )
        report(f"table {name}: created (on-demand, encrypted with KMS)")
    backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    pitr = backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
    if pitr != "ENABLED":
        dynamodb.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )
        report(f"table {name}: point-in-time recovery turned on")
    return name


# --- S3 ------------------------------------------------------------------------

NONCURRENT_VERSION_DAYS = 30


def ensure_bucket(name: str, report: Report) -> str:
    s3 = client("s3")
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=name)
        report(f"bucket {name}: exists")
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
            raise
        options: dict[str, Any] = {"Bucket": name}
        if settings.AWS_REGION != "us-east-1":
            options["CreateBucketConfiguration"] = {"LocationConstraint": settings.AWS_REGION}
        s3.create_bucket(**options)
        report(f"bucket {name}: created")
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    # Versioning keeps deleted files recoverable for a while, not forever:
    # a user who deletes a photo (or their account) expects it to go.
    s3.put_bucket_lifecycle_configuration(
        Bucket=name,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "expire-old-versions",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_VERSION_DAYS},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                }
            ]
        },
    )
    report(
        f"bucket {name}: versioning on (old versions kept {NONCURRENT_VERSION_DAYS} days), "
        "encrypted, public access blocked"
    )
    return name


# --- Cognito -------------------------------------------------------------------


def _find(pages: Any, key: str, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
    for page in pages:
        for entry in page.get(key, []):
            if match(entry):
                return entry
    return None


def ensure_user_pool(name: str, report: Report) -> str:
    cognito = client("cognito-idp")
    found = _find(
        cognito.get_paginator("list_user_pools").paginate(MaxResults=60),
        "UserPools",
        lambda pool: pool["Name"] == name,
    )
    if found:
        report(f"user pool {name}: exists ({found['Id']})")
        return str(found["Id"])
    pool = cognito.create_user_pool(
        PoolName=name,
        Policies={
            "PasswordPolicy": {
                "MinimumLength": 12,
                "RequireUppercase": True,
                "RequireLowercase": True,
                "RequireNumbers": True,
                "RequireSymbols": False,
            }
        },
        AutoVerifiedAttributes=["email"],
        UsernameConfiguration={"CaseSensitive": False},
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": False},
        DeletionProtection="ACTIVE",
    )["UserPool"]
    report(f"user pool {name}: created ({pool['Id']})")
    return str(pool["Id"])


def ensure_app_client(pool_id: str, name: str, report: Report) -> str:
    cognito = client("cognito-idp")
    found = _find(
        cognito.get_paginator("list_user_pool_clients").paginate(UserPoolId=pool_id, MaxResults=60),
        "UserPoolClients",
        lambda app: app["ClientName"] == name,
    )
    if found:
        report(f"app client {name}: exists ({found['ClientId']})")
        return str(found["ClientId"])
    app = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=name,
        GenerateSecret=False,  # a mobile app cannot keep a secret
        ExplicitAuthFlows=[
            "ALLOW_USER_SRP_AUTH",
            "ALLOW_USER_PASSWORD_AUTH",
            "ALLOW_REFRESH_TOKEN_AUTH",
        ],
        PreventUserExistenceErrors="ENABLED",
        EnableTokenRevocation=True,
        AccessTokenValidity=60,
        IdTokenValidity=60,
        TokenValidityUnits={"AccessToken": "minutes", "IdToken": "minutes"},
    )["UserPoolClient"]
    report(f"app client {name}: created ({app['ClientId']})")
    return str(app["ClientId"])


def ensure_group(pool_id: str, group: str, report: Report) -> None:
    cognito = client("cognito-idp")
    try:
        cognito.get_group(UserPoolId=pool_id, GroupName=group)
        report(f"group {group}: exists")
    except cognito.exceptions.ResourceNotFoundException:
        cognito.create_group(UserPoolId=pool_id, GroupName=group)
        report(f"group {group}: created")


def ensure_user(
    pool_id: str, *, username: str, password: str, email: str, groups: tuple[str, ...] = ()
) -> None:
    """A confirmed user with this password and these groups (for local and
    test stacks; real users sign up through the app)."""
    cognito = client("cognito-idp")
    try:
        cognito.admin_get_user(UserPoolId=pool_id, Username=username)
    except cognito.exceptions.UserNotFoundException:
        cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=username,
            UserAttributes=[
                {"Name": "email", "Value": email},
                {"Name": "email_verified", "Value": "true"},
            ],
            MessageAction="SUPPRESS",
        )
    cognito.admin_set_user_password(
        UserPoolId=pool_id, Username=username, Password=password, Permanent=True
    )
    for group in groups:
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName=group)


def sign_in(client_id: str, username: str, password: str) -> dict[str, str]:
    """Cognito's USER_PASSWORD_AUTH: the tokens a mobile client would get."""
    result = client("cognito-idp").initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    return dict(result["AuthenticationResult"])
