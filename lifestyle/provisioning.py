"""Create the product's AWS resources, or bring existing ones up to spec.

The spec is written once, here, as *findings*: each setting of each resource
(the table's point-in-time recovery, the bucket's public-access block, the
pool's app client ...) is read from AWS and compared with what the product
needs, giving ``ok``, ``DRIFT`` (with what differs) or ``MISSING``. A finding
that can be repaired in place carries the repair. ``manage.py provision
--check`` prints the findings and changes nothing; ``manage.py provision``
creates what is missing, applies every in-place repair, then looks again and
reports what is still off (what only a new table can fix: keys, local
secondary indexes). Nothing here deletes anything or takes a resource
offline, so it runs against a live stage.

The same code runs against moto's server on a laptop and against a real AWS
account; ``lifestyle.health`` and ``lifestyle.security`` reuse the readers
below for the settings they care about.
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from lifestyle.aws import client

Report = Callable[[str], None]

OK, DRIFT, MISSING = "ok", "DRIFT", "MISSING"


def _quiet(line: str) -> None:
    """The default reporter: says nothing."""


@dataclass(frozen=True)
class Finding:
    """One setting of one resource compared with the spec."""

    kind: str  # "table", "bucket", "user pool", "app client", "group"
    name: str
    setting: str
    status: str  # OK, DRIFT or MISSING
    detail: str = ""
    # Applies the spec in place and says what it did; None when provisioning
    # cannot (or must not) repair it in place.
    fix: Callable[[], str] | None = field(default=None, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def subject(self) -> str:
        return f"{self.kind} {self.name}"

    def line(self) -> str:
        text = f"{self.status:<7} {self.subject} - {self.setting}"
        return f"{text}: {self.detail}" if self.detail else text

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "setting": self.setting,
            "status": self.status,
            "detail": self.detail,
            "fixable": self.fix is not None,
        }


@dataclass(frozen=True)
class Stack:
    table: str
    bucket: str
    user_pool_id: str
    app_client_id: str
    # What still differs from the spec after provisioning: what only a new
    # resource (and a data migration) can fix.
    remaining: tuple[Finding, ...] = ()


def provision(report: Report = _quiet, progress: Report = _quiet) -> Stack:
    """Create what is missing and repair what drifted, for the resources the
    settings name; ``report`` gets one line per thing done, ``progress``
    (stderr in the command) hears about waits."""
    table = ensure_table(settings.DYNAMODB_TABLE, report, progress=progress)
    bucket = ensure_bucket(settings.AWS_STORAGE_BUCKET_NAME, report)
    pool_id = ensure_user_pool(settings.COGNITO_USER_POOL_NAME, report)
    client_id = ensure_app_client(pool_id, settings.COGNITO_APP_CLIENT_NAME, report)
    for group in settings.STAFF_GROUPS:
        ensure_group(pool_id, group, report)
    remaining = tuple(finding for finding in check() if not finding.ok)
    return Stack(
        table=table,
        bucket=bucket,
        user_pool_id=pool_id,
        app_client_id=client_id,
        remaining=remaining,
    )


def check() -> list[Finding]:
    """Every setting of the resources the settings name, against the spec.
    Reads only."""
    return [
        *table_findings(settings.DYNAMODB_TABLE),
        *bucket_findings(settings.AWS_STORAGE_BUCKET_NAME),
        *user_pool_findings(
            settings.COGNITO_USER_POOL_NAME, settings.COGNITO_APP_CLIENT_NAME, settings.STAFF_GROUPS
        ),
    ]


def _converge(inspect: Callable[[], list[Finding]], report: Report) -> list[Finding]:
    """Create what is missing, look again, repair what drifted; returns the
    final findings (as they were before the repairs)."""
    findings = inspect()
    created = set()
    for finding in findings:
        if finding.status == MISSING and finding.fix is not None:
            report(f"{finding.subject}: {finding.fix()}")
            created.add((finding.subject, finding.setting))
    if created:
        findings = inspect()
    done: set[int] = set()  # one repair can answer several findings
    for finding in findings:
        if finding.ok and finding.setting == "exists":
            if (finding.subject, finding.setting) not in created:
                report(f"{finding.subject}: exists{_parenthesised(finding.detail)}")
        elif not finding.ok and finding.fix is not None and id(finding.fix) not in done:
            done.add(id(finding.fix))
            report(f"{finding.subject}: {finding.fix()}")
    return findings


def _parenthesised(text: str) -> str:
    return f" ({text})" if text else ""


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


# --- DynamoDB ------------------------------------------------------------------

KEY_SCHEMA = [
    {"AttributeName": "pk", "KeyType": "HASH"},
    {"AttributeName": "sk", "KeyType": "RANGE"},
]
ATTRIBUTES = [
    {"AttributeName": name, "AttributeType": "S"}
    for name in ("pk", "sk", "goal_time", "time_key", "sync_pk", "updated_at")
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
# Global secondary indexes can be added to a live table (provision does, one
# at a time, waiting for each to backfill). Declared here in CreateTable's
# form, with their key attributes in ATTRIBUTES. by_change: a user's synced
# items in the order they changed, for delta sync (sync/models.py); only
# items with a sync_pk are in it.
GLOBAL_INDEXES: list[dict[str, Any]] = [
    {
        "IndexName": "by_change",
        "KeySchema": [
            {"AttributeName": "sync_pk", "KeyType": "HASH"},
            {"AttributeName": "updated_at", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }
]
# Items with this attribute (epoch seconds) are deleted by DynamoDB once it
# has passed (within a few days): token revocation records, for example.
TTL_ATTRIBUTE = "expires_at"
SSE_SPECIFICATION = {"Enabled": True, "SSEType": "KMS"}
TAGS = [{"Key": "app", "Value": "ai-lifestyle-app"}]
# How long provision waits for a table or a new index to become ACTIVE
# (a global index backfills the whole table first).
TABLE_WAIT_SECONDS = 3600.0

_NEW_TABLE = (
    "fixed when the table is created: create a new table from table_spec() and migrate the data"
)


def table_spec(name: str) -> dict[str, Any]:
    """``create_table`` arguments for a table shaped like the product's: the
    live table, and the restore drill's or a data migration's scratch copies
    (ops_admin.backups). Point-in-time recovery and TTL are not CreateTable
    arguments: :func:`ensure_table` turns them on afterwards. A fresh copy
    each call, so callers may change it."""
    spec: dict[str, Any] = {
        "TableName": name,
        "KeySchema": KEY_SCHEMA,
        "AttributeDefinitions": ATTRIBUTES,
        "LocalSecondaryIndexes": LOCAL_INDEXES,
        "BillingMode": "PAY_PER_REQUEST",
        "SSESpecification": SSE_SPECIFICATION,
    }
    if GLOBAL_INDEXES:  # CreateTable refuses an empty list
        spec["GlobalSecondaryIndexes"] = GLOBAL_INDEXES
    return copy.deepcopy(spec)


def ensure_table(
    name: str,
    report: Report = _quiet,
    *,
    spec: Mapping[str, Any] | None = None,
    progress: Report = _quiet,
) -> str:
    """The table, created or brought up to ``spec`` (default
    :func:`table_spec`) in place."""
    _converge(lambda: table_findings(name, spec, progress=progress), report)
    return name


def describe_table(name: str) -> dict[str, Any] | None:
    """DescribeTable's ``Table``, or None when there is no such table."""
    dynamodb = client("dynamodb")
    try:
        return dict(dynamodb.describe_table(TableName=name)["Table"])
    except dynamodb.exceptions.ResourceNotFoundException:
        return None


def table_findings(
    name: str, spec: Mapping[str, Any] | None = None, *, progress: Report = _quiet
) -> list[Finding]:
    spec = spec or table_spec(name)
    table = describe_table(name)
    if table is None:
        return [
            Finding(
                "table",
                name,
                "exists",
                MISSING,
                "no such table",
                fix=lambda: _create_table(spec, progress),
            )
        ]
    return [
        Finding("table", name, "exists", OK, ""),
        table_keys(table, spec),
        *table_local_indexes(table, spec),
        *table_global_indexes(table, spec, progress),
        table_billing(table, spec, progress),
        table_encryption(table, progress),
        table_point_in_time_recovery(name),
        table_ttl(name),
    ]


def _create_table(spec: Mapping[str, Any], progress: Report) -> str:
    name = spec["TableName"]
    client("dynamodb").create_table(**spec, Tags=TAGS)
    wait_for_table(name, progress)
    return "created (on-demand, encrypted with KMS)"


def wait_for_table(
    name: str, progress: Report = _quiet, timeout: float = TABLE_WAIT_SECONDS
) -> None:
    """Until the table and each of its global indexes is ACTIVE (an index
    backfilling a large table takes minutes to hours: progress every 30 s)."""
    started = last_said = time.monotonic()
    delay = 0.2
    while True:
        table = describe_table(name)
        pending = _pending(table)
        if not pending:
            return
        now = time.monotonic()
        if now - started > timeout:
            raise TimeoutError(f"table {name}: still {', '.join(pending)} after {timeout:.0f} s")
        if now - last_said >= 30:
            progress(f"table {name}: waiting for {', '.join(pending)} ({now - started:.0f} s)")
            last_said = now
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def _pending(table: Mapping[str, Any] | None) -> list[str]:
    if table is None:
        return ["the table to appear"]
    pending = [] if table["TableStatus"] == "ACTIVE" else [f"table {table['TableStatus']}"]
    pending += [
        f"index {index['IndexName']} {index['IndexStatus']}"
        for index in table.get("GlobalSecondaryIndexes", [])
        if index.get("IndexStatus", "ACTIVE") != "ACTIVE"
    ]
    return pending


def _keys(schema: Iterable[Mapping[str, str]]) -> str:
    return ", ".join(f"{key['AttributeName']} ({key['KeyType']})" for key in schema)


def table_keys(table: Mapping[str, Any], spec: Mapping[str, Any]) -> Finding:
    name = table["TableName"]
    have, want = _keys(table["KeySchema"]), _keys(spec["KeySchema"])
    if have == want:
        return Finding("table", name, "keys", OK, have)
    return Finding("table", name, "keys", DRIFT, f"{have}, spec {want}; keys are {_NEW_TABLE}")


def table_local_indexes(table: Mapping[str, Any], spec: Mapping[str, Any]) -> list[Finding]:
    name = table["TableName"]
    have = {index["IndexName"]: index for index in table.get("LocalSecondaryIndexes", [])}
    findings = []
    for index in spec.get("LocalSecondaryIndexes", []):
        setting = f"local index {index['IndexName']}"
        found = have.get(index["IndexName"])
        if found is None:
            detail = f"missing; local indexes are {_NEW_TABLE}"
            findings.append(Finding("table", name, setting, DRIFT, detail))
        elif _keys(found["KeySchema"]) != _keys(index["KeySchema"]):
            detail = (
                f"keys {_keys(found['KeySchema'])}, spec {_keys(index['KeySchema'])}; "
                f"local indexes are {_NEW_TABLE}"
            )
            findings.append(Finding("table", name, setting, DRIFT, detail))
        else:
            findings.append(Finding("table", name, setting, OK, _keys(found["KeySchema"])))
    return findings


def table_global_indexes(
    table: Mapping[str, Any], spec: Mapping[str, Any], progress: Report = _quiet
) -> list[Finding]:
    name = table["TableName"]
    have = {index["IndexName"]: index for index in table.get("GlobalSecondaryIndexes", [])}
    wanted = {index["IndexName"]: index for index in spec.get("GlobalSecondaryIndexes", [])}
    findings = []
    for index_name, index in wanted.items():
        setting = f"global index {index_name}"
        found = have.get(index_name)
        if found is None:
            findings.append(
                Finding(
                    "table",
                    name,
                    setting,
                    MISSING,
                    "not on the table yet",
                    fix=functools.partial(_add_global_index, name, spec, index, progress),
                )
            )
        elif _keys(found["KeySchema"]) != _keys(index["KeySchema"]):
            detail = (
                f"keys {_keys(found['KeySchema'])}, spec {_keys(index['KeySchema'])}; "
                "drop it and add the spec's under a new name (provision never deletes an index)"
            )
            findings.append(Finding("table", name, setting, DRIFT, detail))
        else:
            status = found.get("IndexStatus", "ACTIVE")
            findings.append(
                Finding("table", name, setting, OK, f"{_keys(found['KeySchema'])}, {status}")
            )
    for index_name in sorted(set(have) - set(wanted)):
        detail = "not in the spec (provision never deletes an index: drop it by hand if unused)"
        findings.append(Finding("table", name, f"global index {index_name}", DRIFT, detail))
    return findings


def _add_global_index(
    name: str, spec: Mapping[str, Any], index: Mapping[str, Any], progress: Report
) -> str:
    """One UpdateTable per index (DynamoDB creates one at a time); the
    table keeps serving while the index backfills."""
    create = {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
    if "ProvisionedThroughput" in index:
        create["ProvisionedThroughput"] = index["ProvisionedThroughput"]
    client("dynamodb").update_table(
        TableName=name,
        AttributeDefinitions=spec["AttributeDefinitions"],
        GlobalSecondaryIndexUpdates=[{"Create": create}],
    )
    wait_for_table(name, progress)
    return f"global index {index['IndexName']} added"


def table_billing(
    table: Mapping[str, Any], spec: Mapping[str, Any], progress: Report = _quiet
) -> Finding:
    name = table["TableName"]
    # Tables created before on-demand existed have no BillingModeSummary.
    have = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    want = spec.get("BillingMode", "PAY_PER_REQUEST")
    if have == want:
        return Finding("table", name, "billing mode", OK, have)

    def fix() -> str:
        client("dynamodb").update_table(TableName=name, BillingMode=want)
        wait_for_table(name, progress)
        return f"billing mode set to {want}"

    return Finding("table", name, "billing mode", DRIFT, f"{have}, spec {want}", fix=fix)


def table_encryption(table: Mapping[str, Any], progress: Report = _quiet) -> Finding:
    """Every DynamoDB table is encrypted at rest; the spec asks for a KMS key
    (AWS managed), whose use CloudTrail records, rather than the default
    AWS-owned key. UpdateTable switches a live table's key in place."""
    name = table["TableName"]
    sse = table.get("SSEDescription") or {}
    if sse.get("SSEType") == "KMS" and sse.get("Status") in ("ENABLED", "UPDATING"):
        return Finding("table", name, "encryption", OK, f"KMS, {sse['Status']}")
    have = (
        f"{sse.get('SSEType', 'KMS')}, {sse['Status']}"
        if sse.get("Status")
        else "AWS-owned key (the default)"
    )

    def fix() -> str:
        client("dynamodb").update_table(TableName=name, SSESpecification=SSE_SPECIFICATION)
        wait_for_table(name, progress)
        return "encryption switched to KMS"

    return Finding("table", name, "encryption", DRIFT, f"{have}, spec KMS", fix=fix)


def point_in_time_recovery_status(name: str) -> str:
    """``ENABLED`` or ``DISABLED`` (DescribeContinuousBackups)."""
    backups = client("dynamodb").describe_continuous_backups(TableName=name)
    description = backups["ContinuousBackupsDescription"]
    return str(
        description.get("PointInTimeRecoveryDescription", {}).get(
            "PointInTimeRecoveryStatus", "DISABLED"
        )
    )


def table_point_in_time_recovery(name: str) -> Finding:
    status = point_in_time_recovery_status(name)
    setting = "point-in-time recovery"
    if status == "ENABLED":
        return Finding("table", name, setting, OK, status)

    def fix() -> str:
        client("dynamodb").update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )
        return "point-in-time recovery turned on"

    return Finding("table", name, setting, DRIFT, f"{status}, spec ENABLED", fix=fix)


def table_ttl(name: str) -> Finding:
    """TTL on :data:`TTL_ATTRIBUTE`. A table has at most one TTL attribute,
    and DynamoDB allows one TTL change per hour: a TTL on another attribute
    is reported, not switched (its items would stop expiring)."""
    description = client("dynamodb").describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    status = description.get("TimeToLiveStatus", "DISABLED")
    attribute = description.get("AttributeName")
    setting = f"TTL on {TTL_ATTRIBUTE}"
    if status in ("ENABLED", "ENABLING") and attribute == TTL_ATTRIBUTE:
        return Finding("table", name, setting, OK, status)
    if status in ("ENABLED", "ENABLING"):
        detail = f"{status} on {attribute}; turn that off by hand first if nothing relies on it"
        return Finding("table", name, setting, DRIFT, detail)
    if status == "DISABLING":
        detail = "DISABLING (DynamoDB takes up to an hour); run provision again after"
        return Finding("table", name, setting, DRIFT, detail)

    def fix() -> str:
        client("dynamodb").update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )
        return f"TTL turned on for {TTL_ATTRIBUTE}"

    return Finding("table", name, setting, DRIFT, f"{status}, spec ENABLED", fix=fix)


# --- S3 ------------------------------------------------------------------------

NONCURRENT_VERSION_DAYS = 30
PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
# S3's defaults that count as encrypted (SSE-S3, SSE-KMS, dual-layer KMS).
ENCRYPTION_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")
# Versioning keeps deleted files recoverable for a while, not forever:
# a user who deletes a photo (or their account) expects it to go.
LIFECYCLE_RULE = {
    "ID": "expire-old-versions",
    "Status": "Enabled",
    "Filter": {"Prefix": ""},
    "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_VERSION_DAYS},
    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
}
# Exports (accounts/exports.py) go a week after they are made, as their job
# records do (DynamoDB TTL); the bucket being versioned, the version the
# expiry leaves behind goes a day later.
EXPORT_DAYS = 7
EXPORTS_LIFECYCLE_RULE = {
    "ID": "expire-exports",
    "Status": "Enabled",
    "Filter": {"Prefix": "exports/"},
    "Expiration": {"Days": EXPORT_DAYS},
    "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
}


def ensure_bucket(name: str, report: Report = _quiet) -> str:
    _converge(lambda: bucket_findings(name), report)
    return name


def bucket_exists(name: str) -> bool:
    """HeadBucket: False on 404; any other refusal (403: someone else's
    bucket, or no permission) is raised."""
    from botocore.exceptions import ClientError

    try:
        client("s3").head_bucket(Bucket=name)
    except ClientError as error:
        if _error_code(error) in ("404", "NoSuchBucket"):
            return False
        raise
    return True


def bucket_findings(name: str) -> list[Finding]:
    if not bucket_exists(name):
        return [
            Finding(
                "bucket",
                name,
                "exists",
                MISSING,
                "no such bucket",
                fix=lambda: _create_bucket(name),
            )
        ]
    return [
        Finding("bucket", name, "exists", OK, ""),
        bucket_public_access_block(name),
        bucket_versioning(name),
        bucket_encryption(name),
        bucket_lifecycle(name),
        bucket_exports_lifecycle(name),
    ]


def _create_bucket(name: str) -> str:
    options: dict[str, Any] = {"Bucket": name}
    if settings.AWS_REGION != "us-east-1":
        options["CreateBucketConfiguration"] = {"LocationConstraint": settings.AWS_REGION}
    client("s3").create_bucket(**options)
    return "created"


def _read_or_none(call: Callable[[], dict[str, Any]], absent: str) -> dict[str, Any] | None:
    """``call()``'s answer, or None when S3 says the configuration ``absent``
    (its error code for "never set")."""
    from botocore.exceptions import ClientError

    try:
        return call()
    except ClientError as error:
        if _error_code(error) == absent:
            return None
        raise


def bucket_public_access_block(name: str) -> Finding:
    """All four flags of the bucket's own public-access block."""
    s3 = client("s3")
    answer = _read_or_none(
        lambda: s3.get_public_access_block(Bucket=name), "NoSuchPublicAccessBlockConfiguration"
    )
    setting = "public-access block"

    def fix() -> str:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK)
        return "public access blocked (all four flags)"

    if answer is None:
        return Finding("bucket", name, setting, DRIFT, "none set, spec all four flags on", fix=fix)
    flags = answer["PublicAccessBlockConfiguration"]
    off = [flag for flag in PUBLIC_ACCESS_BLOCK if not flags.get(flag)]
    if not off:
        return Finding("bucket", name, setting, OK, "all four flags on")
    return Finding("bucket", name, setting, DRIFT, f"{', '.join(off)} off", fix=fix)


def bucket_versioning(name: str) -> Finding:
    s3 = client("s3")
    status = s3.get_bucket_versioning(Bucket=name).get("Status", "never enabled")
    if status == "Enabled":
        return Finding("bucket", name, "versioning", OK, status)

    def fix() -> str:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return "versioning turned on"

    return Finding("bucket", name, "versioning", DRIFT, f"{status}, spec Enabled", fix=fix)


def bucket_encryption(name: str) -> Finding:
    s3 = client("s3")
    answer = _read_or_none(
        lambda: s3.get_bucket_encryption(Bucket=name),
        "ServerSideEncryptionConfigurationNotFoundError",
    )
    rules = (answer or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
    algorithms = [
        rule.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for rule in rules
    ]
    if any(algorithm in ENCRYPTION_ALGORITHMS for algorithm in algorithms):
        return Finding("bucket", name, "default encryption", OK, ", ".join(map(str, algorithms)))

    def fix() -> str:
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
        return "default encryption set (AES256)"

    return Finding("bucket", name, "default encryption", DRIFT, "none, spec AES256", fix=fix)


def bucket_lifecycle(name: str) -> Finding:
    """The rule that expires old versions of every file."""
    return _lifecycle_rule(
        name,
        LIFECYCLE_RULE,
        compared=("Status", "NoncurrentVersionExpiration"),
        summary=f"old versions kept {NONCURRENT_VERSION_DAYS} days",
    )


def bucket_exports_lifecycle(name: str) -> Finding:
    """The rule that expires exports (accounts/exports.py)."""
    compared = tuple(key for key in EXPORTS_LIFECYCLE_RULE if key != "ID")
    return _lifecycle_rule(
        name, EXPORTS_LIFECYCLE_RULE, compared=compared, summary=f"exports kept {EXPORT_DAYS} days"
    )


def _lifecycle_rule(
    name: str, rule: dict[str, Any], *, compared: tuple[str, ...], summary: str
) -> Finding:
    """``rule`` among the bucket's lifecycle rules (by ID, on the keys
    ``compared``). PutBucketLifecycleConfiguration replaces the whole set,
    so a repair reads the rules again and keeps the others, and the rule
    its place: two repairs in a row each keep what the other wrote."""
    s3 = client("s3")
    rule_id = rule["ID"]

    def rules() -> list[dict[str, Any]]:
        answer = _read_or_none(
            lambda: s3.get_bucket_lifecycle_configuration(Bucket=name),
            "NoSuchLifecycleConfiguration",
        )
        return list((answer or {}).get("Rules", []))

    setting = f"lifecycle rule {rule_id}"
    ours = next((found for found in rules() if found.get("ID") == rule_id), None)
    wanted = {key: rule[key] for key in compared}
    if ours is not None and all(ours.get(key) == value for key, value in wanted.items()):
        return Finding("bucket", name, setting, OK, summary)

    def fix() -> str:
        current = rules()
        fixed = [rule if found.get("ID") == rule_id else found for found in current]
        if not any(found.get("ID") == rule_id for found in current):
            fixed.append(rule)
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": fixed})
        return f"lifecycle rule set ({summary})"

    if ours is None:
        detail = f"missing, spec: {summary}"
    else:
        detail = ", ".join(
            f"{key} {ours.get(key)}, spec {value}"
            for key, value in wanted.items()
            if ours.get(key) != value
        )
    return Finding("bucket", name, setting, DRIFT, detail, fix=fix)


# --- Cognito -------------------------------------------------------------------

PASSWORD_POLICY = {
    "MinimumLength": 12,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": False,
}
AUTH_FLOWS = ["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
APP_CLIENT = {
    "GenerateSecret": False,  # a mobile app cannot keep a secret
    "ExplicitAuthFlows": AUTH_FLOWS,
    "PreventUserExistenceErrors": "ENABLED",
    "EnableTokenRevocation": True,
    "AccessTokenValidity": 60,
    "IdTokenValidity": 60,
    "TokenValidityUnits": {"AccessToken": "minutes", "IdToken": "minutes"},
}


def _find(pages: Any, key: str, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
    for page in pages:
        for entry in page.get(key, []):
            if match(entry):
                return dict(entry)
    return None


def find_user_pool(name: str) -> str | None:
    """The id of the pool with this name (names are not unique in Cognito:
    the first one found; provision never makes a second)."""
    found = _find(
        client("cognito-idp").get_paginator("list_user_pools").paginate(MaxResults=60),
        "UserPools",
        lambda pool: pool["Name"] == name,
    )
    return str(found["Id"]) if found else None


def find_app_client(pool_id: str, name: str) -> str | None:
    found = _find(
        client("cognito-idp")
        .get_paginator("list_user_pool_clients")
        .paginate(UserPoolId=pool_id, MaxResults=60),
        "UserPoolClients",
        lambda app: app["ClientName"] == name,
    )
    return str(found["ClientId"]) if found else None


def _existing(findings: Iterable[Finding]) -> str:
    """The id an "exists" finding carries, once the resource exists."""
    for finding in findings:
        if finding.setting == "exists" and finding.ok:
            return finding.detail
    raise RuntimeError("provisioning did not converge: the resource is still missing")


def user_pool_finding(name: str) -> Finding:
    pool_id = find_user_pool(name)
    if pool_id is None:
        return Finding(
            "user pool",
            name,
            "exists",
            MISSING,
            "no pool with this name (and so no app client or groups)",
            fix=lambda: _create_user_pool(name),
        )
    return Finding("user pool", name, "exists", OK, pool_id)


def user_pool_findings(pool_name: str, client_name: str, groups: Iterable[str]) -> list[Finding]:
    pool = user_pool_finding(pool_name)
    if not pool.ok:
        return [pool]
    return [
        pool,
        *app_client_findings(pool.detail, client_name),
        *[group_finding(pool.detail, group) for group in groups],
    ]


def _create_user_pool(name: str) -> str:
    pool = client("cognito-idp").create_user_pool(
        PoolName=name,
        Policies={"PasswordPolicy": PASSWORD_POLICY},
        AutoVerifiedAttributes=["email"],
        UsernameConfiguration={"CaseSensitive": False},
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": False},
        DeletionProtection="ACTIVE",
    )["UserPool"]
    return f"created ({pool['Id']})"


def ensure_user_pool(name: str, report: Report = _quiet) -> str:
    """The pool's id, created if no pool has this name."""
    return _existing(_converge(lambda: [user_pool_finding(name)], report))


def app_client_findings(pool_id: str, name: str) -> list[Finding]:
    """The app client exists, has no secret, offers the sign-in flows the
    app uses and can have its tokens revoked."""
    cognito = client("cognito-idp")
    client_id = find_app_client(pool_id, name)
    if client_id is None:
        return [
            Finding(
                "app client",
                name,
                "exists",
                MISSING,
                "no client with this name",
                fix=lambda: _create_app_client(pool_id, name),
            )
        ]
    app = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)[
        "UserPoolClient"
    ]

    def fix() -> str:
        return _update_app_client(pool_id, client_id)

    def finding(setting: str, problem: str | None, fine: str, repair: bool = True) -> Finding:
        if problem is None:
            return Finding("app client", name, setting, OK, fine)
        return Finding("app client", name, setting, DRIFT, problem, fix=fix if repair else None)

    missing_flows = [flow for flow in AUTH_FLOWS if flow not in app.get("ExplicitAuthFlows", [])]
    return [
        Finding("app client", name, "exists", OK, client_id),
        finding(
            "no secret",
            "it has a secret, which a mobile app cannot keep: a new client is needed"
            if app.get("ClientSecret")
            else None,
            "",
            repair=False,
        ),
        finding(
            "auth flows",
            f"{', '.join(missing_flows)} not allowed" if missing_flows else None,
            ", ".join(AUTH_FLOWS),
        ),
        finding(
            "token revocation",
            None if app.get("EnableTokenRevocation") else "off, spec on",
            "on",
        ),
    ]


def _create_app_client(pool_id: str, name: str) -> str:
    app = client("cognito-idp").create_user_pool_client(
        UserPoolId=pool_id, ClientName=name, **APP_CLIENT
    )["UserPoolClient"]
    return f"created ({app['ClientId']})"


def _update_app_client(pool_id: str, client_id: str) -> str:
    """UpdateUserPoolClient resets every setting it is not given to its
    default: send back everything the client has (the fields the operation
    takes, read from botocore's model), plus the spec's flows and revocation."""
    cognito = client("cognito-idp")
    accepted = cognito.meta.service_model.operation_model("UpdateUserPoolClient").input_shape
    app = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)
    current = {
        key: value for key, value in app["UserPoolClient"].items() if key in accepted.members
    }
    flows = list(dict.fromkeys([*current.get("ExplicitAuthFlows", []), *AUTH_FLOWS]))
    cognito.update_user_pool_client(
        **{**current, "ExplicitAuthFlows": flows, "EnableTokenRevocation": True}
    )
    return "sign-in flows and token revocation set to spec"


def ensure_app_client(pool_id: str, name: str, report: Report = _quiet) -> str:
    """The client's id, created or brought up to spec."""
    return _existing(_converge(lambda: app_client_findings(pool_id, name), report))


def group_finding(pool_id: str, group: str) -> Finding:
    cognito = client("cognito-idp")
    try:
        cognito.get_group(UserPoolId=pool_id, GroupName=group)
    except cognito.exceptions.ResourceNotFoundException:
        return Finding(
            "group",
            group,
            "exists",
            MISSING,
            "no such group",
            fix=lambda: _create_group(pool_id, group),
        )
    return Finding("group", group, "exists", OK, "")


def _create_group(pool_id: str, group: str) -> str:
    client("cognito-idp").create_group(UserPoolId=pool_id, GroupName=group)
    return "created"


def ensure_group(pool_id: str, group: str, report: Report = _quiet) -> None:
    _converge(lambda: [group_finding(pool_id, group)], report)


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
