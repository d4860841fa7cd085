"""DynamoDB backups and restores: the runbook's "Database Rollback", as code.

Plain functions over the low-level boto3 client (PynamoDB has no backup
API), shared by ``manage.py backup``, ``manage.py restore_drill`` and the
staff console. Three rules hold whoever calls them:

- A restore always creates a new table and never writes over an existing
  one, least of all the live table. Its name must be
  ``{source table}-restored-{suffix}``: that is also the only name the
  Lambda's IAM policy (deploy/lambda-policy.template.json) lets a restore
  create, so the check here fails early, with the reason, instead of as an
  AccessDenied halfway through.
- :func:`verify` compares two tables by item count and an order-independent
  checksum (each item's canonical JSON hashed, the hashes added modulo
  2**256), so a restore can be proven equal to its source whatever order
  the scans return items in. It leaves out the staff console's own
  bookkeeping (audit log entries, sign-in throttles): recording a backup,
  restore or verify writes the audit log in the live table, so counting it
  would make every restore differ from its source by its own record.
- :func:`restore_drill` proves the whole round trip on scratch tables shaped
  like the live one; it never reads or writes the live table's data.

Errors an operator can act on are raised as :class:`BackupError` with a
message that says what to do.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Context, Decimal, InvalidOperation
from typing import Any

from django.conf import settings

from lifestyle.aws import client
from lifestyle.errors import ApplicationError
from lifestyle.provisioning import table_spec
from lifestyle.timeutil import rfc3339, utcnow
from ops_admin import audit

Progress = Callable[[str], None]


def _quiet(line: str) -> None:
    """The default progress reporter: says nothing."""


class BackupError(ApplicationError):
    code = "backup_error"
    default_message = "The backup operation could not be done."
    aws_code: str | None = None  # AWS's error code, when AWS refused


class BackupNotFound(BackupError):
    """No such backup (or table): the console answers 404, not 400."""

    status = 404


# DynamoDB's own rules for table and backup names.
NAME_RULE = "3-255 characters, each a letter, digit, '_', '-' or '.'"
_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_BACKUP_ARN = re.compile(
    r"arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table/(?P<table>[A-Za-z0-9_.-]{3,255})"
    r"/backup/[A-Za-z0-9.-]+"
)
RESTORED_INFIX = "-restored-"
DRILL_INFIX = "-drill-"

# Waiting: poll this often, and say so at least this often.
POLL_SECONDS = 5.0
REPORT_SECONDS = 30.0
# A restore "typically" finishes within an hour (AWS); give it two.
DEFAULT_TIMEOUT_SECONDS = 2 * 3600.0


def stamp(when: datetime | None = None) -> str:
    """``20261128T102647Z``: sortable, and valid in table and backup names."""
    return (when or utcnow()).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def is_valid_name(name: str) -> bool:
    """Whether DynamoDB accepts ``name`` for a table or a backup."""
    return bool(_NAME.fullmatch(name))


def validate_backup_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise BackupError(f"Backup name {name!r} is not valid: use {NAME_RULE}.")
    return name


def default_backup_name(when: datetime | None = None) -> str:
    return f"manual-{stamp(when)}"


def default_restore_target(source_table: str, when: datetime | None = None) -> str:
    """``{source_table}-restored-{UTC timestamp}``, the name the IAM policy
    lets a restore create."""
    return f"{source_table}{RESTORED_INFIX}{stamp(when)}"


# --- AWS errors an operator can act on ----------------------------------------

_HINTS = {
    "AccessDeniedException": (
        " The caller's IAM policy does not allow this. The Lambda's policy "
        "(deploy/lambda-policy.template.json) lets restores create only "
        "'<table>-restored-*' tables, and the restore drill needs operator credentials."
    ),
    "PointInTimeRecoveryUnavailableException": (
        " Point-in-time recovery is off for the source table: `manage.py provision` turns it on."
    ),
    "BackupInUseException": " Another operation is using the backup: try again shortly.",
    "TableInUseException": " The table is busy with another operation: try again shortly.",
    "LimitExceededException": (
        " DynamoDB allows only a few table operations at once: wait for one to finish."
    ),
}


@contextmanager
def _aws(action: str) -> Iterator[None]:
    """Turn an AWS refusal into a :class:`BackupError` that names what we
    were doing, AWS's own words, and (when we know one) the remedy."""
    from botocore.exceptions import ClientError

    try:
        yield
    except ClientError as error:
        details = error.response.get("Error", {})
        code = details.get("Code", "Error")
        message = f"{action} failed: {code}: {details.get('Message', '')}".rstrip(": ")
        refused = BackupError(message + _HINTS.get(code, ""))
        refused.aws_code = code
        raise refused from error


# --- Backups ---------------------------------------------------------------------


@dataclass(frozen=True)
class Backup:
    arn: str
    name: str
    table: str
    status: str  # CREATING, AVAILABLE or DELETED
    type: str  # USER, SYSTEM or AWS_BACKUP
    created_at: datetime
    size_bytes: int | None = None
    item_count: int | None = None  # DynamoDB's estimate at backup time (describe only)

    def as_dict(self) -> dict[str, Any]:
        return {
            "arn": self.arn,
            "name": self.name,
            "table": self.table,
            "status": self.status,
            "type": self.type,
            "created_at": rfc3339(self.created_at),
            "size_bytes": self.size_bytes,
            "item_count": self.item_count,
        }


def _backup(details: dict[str, Any], table: str, item_count: int | None = None) -> Backup:
    return Backup(
        arn=details["BackupArn"],
        name=details["BackupName"],
        table=table,
        status=details["BackupStatus"],
        type=details["BackupType"],
        created_at=details["BackupCreationDateTime"],
        size_bytes=details.get("BackupSizeBytes"),
        item_count=item_count,
    )


def create_backup(table: str, name: str) -> Backup:
    """An on-demand backup of ``table`` (a full copy, kept until deleted)."""
    validate_backup_name(name)
    with _aws(f"Backing up table {table}"):
        details = client("dynamodb").create_backup(TableName=table, BackupName=name)
    return _backup(details["BackupDetails"], table)


def list_backups(table: str) -> list[Backup]:
    """Every backup of ``table`` (on-demand, AWS Backup and system ones),
    newest first."""
    pages = client("dynamodb").get_paginator("list_backups").paginate(TableName=table)
    with _aws(f"Listing the backups of {table}"):
        found = [
            _backup(summary, summary["TableName"])
            for page in pages
            for summary in page.get("BackupSummaries", [])
        ]
    return sorted(found, key=lambda backup: backup.created_at, reverse=True)


def describe_backup(backup_arn: str) -> Backup:
    arn = _BACKUP_ARN.fullmatch(backup_arn)
    if not arn:
        raise BackupError(
            f"{backup_arn!r} is not a DynamoDB backup ARN (arn:aws:dynamodb:REGION:ACCOUNT:"
            "table/TABLE/backup/ID): copy it from `manage.py backup list`."
        )
    dynamodb = client("dynamodb")
    try:
        with _aws(f"Reading backup {backup_arn}"):
            description = dynamodb.describe_backup(BackupArn=backup_arn)["BackupDescription"]
    except BackupError as error:
        if error.aws_code == "BackupNotFoundException":
            raise BackupNotFound(
                f"No backup {backup_arn} (deleted, or in another account or region?): "
                "`manage.py backup list` shows the table's backups."
            ) from None
        raise
    source = description.get("SourceTableDetails", {})
    return _backup(
        description["BackupDetails"],
        source.get("TableName") or arn["table"],
        source.get("ItemCount"),
    )


def find_backup(table: str, name_or_arn: str) -> Backup:
    """A backup of ``table`` given its ARN or its (unique) name."""
    if name_or_arn.startswith("arn:"):
        backup = describe_backup(name_or_arn)
    else:
        matches = [b for b in list_backups(table) if b.name == name_or_arn]
        if not matches:
            raise BackupError(
                f"Table {table} has no backup named {name_or_arn!r}: "
                "`manage.py backup list` shows its backups."
            )
        if len(matches) > 1:
            arns = ", ".join(b.arn for b in matches)
            raise BackupError(
                f"{len(matches)} backups of {table} are named {name_or_arn!r}: {arns}"
            )
        backup = describe_backup(matches[0].arn)
    if backup.table != table:
        raise BackupError(
            f"Backup {backup.arn} is of table {backup.table}, not {table}: "
            f"pass --table {backup.table} if that is the table you mean."
        )
    return backup


def delete_backup(backup_arn: str) -> None:
    with _aws(f"Deleting backup {backup_arn}"):
        client("dynamodb").delete_backup(BackupArn=backup_arn)


# --- Restores ----------------------------------------------------------------------


def table_exists(table: str) -> bool:
    dynamodb = client("dynamodb")
    try:
        with _aws(f"Looking for table {table}"):
            dynamodb.describe_table(TableName=table)
    except BackupError as error:
        if error.aws_code == "ResourceNotFoundException":
            return False
        raise
    return True


def check_restore_target(source_table: str, target_table: str) -> str:
    """Refuse any target but a new ``{source_table}-restored-*`` table."""
    live = {source_table, settings.DYNAMODB_TABLE}
    if target_table in live:
        raise BackupError(
            f"{target_table} is the live table: a restore never writes over it. Restore to a new "
            f"table (default {default_restore_target(source_table)}), check it, then switch."
        )
    prefix = f"{source_table}{RESTORED_INFIX}"
    if not target_table.startswith(prefix) or target_table == prefix:
        raise BackupError(
            f"Target table {target_table!r} must be named '{prefix}<suffix>': the Lambda's IAM "
            f"policy lets restores create only tables named '{source_table}-restored-*', and "
            "the name says where the copy came from."
        )
    if not _NAME.fullmatch(target_table):
        raise BackupError(f"Target table name {target_table!r} is not valid: use {NAME_RULE}.")
    if table_exists(target_table):
        raise BackupError(
            f"Table {target_table} already exists: restores always create a new table. "
            "Pick another --target, or delete that table first if it is a leftover."
        )
    return target_table


@dataclass(frozen=True)
class RestoreStarted:
    target: str
    source_table: str
    status: str
    source: str  # the backup ARN, or "point in time <when>"


def check_backup_restore(backup_arn: str, target_table: str | None = None) -> tuple[Backup, str]:
    """The backup and the target table name a restore would use, or the
    reason it must not happen (the dry run of :func:`restore_from_backup`)."""
    backup = describe_backup(backup_arn)
    if backup.status != "AVAILABLE":
        raise BackupError(f"Backup {backup_arn} is {backup.status}, not AVAILABLE: wait for it.")
    target = target_table or default_restore_target(backup.table)
    return backup, check_restore_target(backup.table, target)


def restore_from_backup(backup_arn: str, target_table: str | None = None) -> RestoreStarted:
    """Start restoring a backup into a new table (default
    ``{source}-restored-{UTC timestamp}``); :func:`wait_until_active` waits."""
    backup, target = check_backup_restore(backup_arn, target_table)
    with _aws(f"Restoring backup {backup_arn} to {target}"):
        description = client("dynamodb").restore_table_from_backup(
            TargetTableName=target, BackupArn=backup_arn
        )["TableDescription"]
    return RestoreStarted(target, backup.table, description["TableStatus"], backup_arn)


def parse_restore_time(text: str) -> datetime | None:
    """``latest`` (None) or an RFC 3339 time with an offset."""
    if text.strip().lower() == "latest":
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BackupError(
            f"{text!r} is not a time: give 'latest' or RFC 3339 with an offset, "
            "e.g. 2026-01-05T10:00:00Z."
        ) from None
    if when.tzinfo is None:
        raise BackupError(
            f"{text!r} has no offset, so it could be any time zone's: add one, "
            "e.g. 2026-01-05T10:00:00Z or 2026-01-05T11:00:00+01:00."
        )
    return when.astimezone(UTC)


def restorable_window(table: str) -> tuple[datetime, datetime]:
    """(earliest, latest) times point-in-time recovery can restore ``table``
    to; a clear error if it is off."""
    with _aws(f"Reading the continuous backups of {table}"):
        description = client("dynamodb").describe_continuous_backups(TableName=table)
    pitr = description["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
    if pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
        raise BackupError(
            f"Point-in-time recovery is off for {table}, so there is nothing to restore from: "
            "`manage.py provision` turns it on (it covers only the time since). "
            "`manage.py backup list` shows on-demand backups."
        )
    return pitr["EarliestRestorableDateTime"], pitr["LatestRestorableDateTime"]


def check_point_in_time_restore(
    source_table: str, target_table: str | None = None, when: datetime | None = None
) -> str:
    """The target table name a point-in-time restore would use, or the
    reason it must not happen (the dry run of :func:`restore_to_point_in_time`)."""
    earliest, latest = restorable_window(source_table)
    if when is not None:
        if when.tzinfo is None:
            raise BackupError("The restore time needs a time zone.")
        if not earliest <= when <= latest:
            raise BackupError(
                f"{rfc3339(when)} is outside {source_table}'s restorable window, "
                f"{rfc3339(earliest)} to {rfc3339(latest)} (the latest lags a few minutes "
                "behind now): pick a time inside it, or 'latest'."
            )
    return check_restore_target(source_table, target_table or default_restore_target(source_table))


def restore_to_point_in_time(
    source_table: str, target_table: str | None = None, when: datetime | None = None
) -> RestoreStarted:
    """Start restoring ``source_table`` as it was at ``when`` (None: the
    latest restorable time, a few minutes ago) into a new table."""
    target = check_point_in_time_restore(source_table, target_table, when)
    options: dict[str, Any] = {"SourceTableName": source_table, "TargetTableName": target}
    if when is None:
        options["UseLatestRestorableTime"] = True
    else:
        options["RestoreDateTime"] = when
    with _aws(f"Restoring {source_table} to {target}"):
        description = client("dynamodb").restore_table_to_point_in_time(**options)
    point = "latest restorable time" if when is None else rfc3339(when)
    return RestoreStarted(
        target, source_table, description["TableDescription"]["TableStatus"], point
    )


def _wait(
    what: str,
    status: Callable[[], str],
    done: str,
    progress: Progress,
    timeout: float,
    interval: float,
) -> None:
    started = time.monotonic()
    last_status, last_report = "", started
    while True:
        current = status()
        elapsed = time.monotonic() - started
        if current != last_status or time.monotonic() - last_report >= REPORT_SECONDS:
            progress(f"{what}: {current} ({elapsed:.0f} s)")
            last_status, last_report = current, time.monotonic()
        if current == done:
            return
        if elapsed >= timeout:
            raise BackupError(
                f"{what} is still {current} after {elapsed:.0f} s; it goes on without us. "
                "Check again later (`manage.py backup verify` refuses a table that is not ACTIVE)."
            )
        time.sleep(interval)


def table_status(table: str) -> str:
    with _aws(f"Reading table {table}"):
        return str(client("dynamodb").describe_table(TableName=table)["Table"]["TableStatus"])


def wait_until_active(
    table: str,
    progress: Progress = _quiet,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    interval: float = POLL_SECONDS,
) -> None:
    """Poll until ``table`` is ACTIVE (a restore takes minutes to hours on
    AWS), reporting each status change and every half minute."""
    _wait(f"table {table}", lambda: table_status(table), "ACTIVE", progress, timeout, interval)


def wait_until_available(
    backup_arn: str,
    progress: Progress = _quiet,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    interval: float = POLL_SECONDS,
) -> None:
    _wait(
        f"backup {backup_arn.rsplit('/', 1)[-1]}",
        lambda: describe_backup(backup_arn).status,
        "AVAILABLE",
        progress,
        timeout,
        interval,
    )


# --- Verification --------------------------------------------------------------------

# DynamoDB numbers have up to 38 significant digits: normalise without rounding.
_NUMBERS = Context(prec=60)


def _number(text: str) -> str:
    try:
        return str(Decimal(text).normalize(_NUMBERS))
    except InvalidOperation:
        return text


def _binary(value: bytes | str) -> str:
    return base64.b64encode(value if isinstance(value, bytes) else value.encode()).decode()


def _canonical(value: dict[str, Any]) -> dict[str, Any]:
    """One AttributeValue in a form that is equal exactly when the values
    are: numbers normalised (1.50 == 1.5), sets sorted, binaries base64."""
    ((kind, inner),) = value.items()
    if kind == "N":
        return {kind: _number(inner)}
    if kind == "NS":
        return {kind: sorted(_number(n) for n in inner)}
    if kind == "SS":
        return {kind: sorted(inner)}
    if kind == "B":
        return {kind: _binary(inner)}
    if kind == "BS":
        return {kind: sorted(_binary(b) for b in inner)}
    if kind == "M":
        return {kind: {key: _canonical(item) for key, item in inner.items()}}
    if kind == "L":
        return {kind: [_canonical(item) for item in inner]}
    return {kind: inner}  # S, BOOL, NULL


def item_digest(item: dict[str, Any]) -> int:
    """SHA-256 of the item's canonical JSON, as a number."""
    canonical = {name: _canonical(value) for name, value in item.items()}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")


def checksum(items: Iterable[dict[str, Any]]) -> str:
    """Item digests summed modulo 2**256: the same whatever the order (a
    scan's order is unspecified), and unlike XOR a repeated item does not
    cancel out."""
    total = 0
    for item in items:
        total = (total + item_digest(item)) % (1 << 256)
    return f"{total:064x}"


# The ``type`` (PynamoDB discriminator) of the items the system writes about
# its own running, in the same table, that change whatever the data does:
# the audit log (ops_admin.audit), staff sign-in throttles
# (ops_admin.staff_auth) and per-user request counters (lifestyle.ratelimit).
# Digests leave them out.
BOOKKEEPING_TYPES = frozenset({"AuditEntry", "SignInFailures", "RateCounter"})


def is_bookkeeping(item: dict[str, Any]) -> bool:
    return item.get("type", {}).get("S") in BOOKKEEPING_TYPES


@dataclass(frozen=True)
class TableDigest:
    table: str
    items: int
    checksum: str
    # Console bookkeeping items left out (not compared: it changes as staff act).
    skipped: int = field(default=0, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "items": self.items,
            "checksum": self.checksum,
            "skipped": self.skipped,
        }


def digest_table(table: str, progress: Progress = _quiet) -> TableDigest:
    """Count and checksum every item of an ACTIVE table but the console's
    bookkeeping (a consistent scan: each item is read once, so this costs a
    full read of the table)."""
    status = table_status(table)
    if status != "ACTIVE":
        raise BackupError(f"Table {table} is {status}, not ACTIVE: wait for it, then verify.")
    pages = client("dynamodb").get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    count = skipped = 0

    def scanned() -> Iterator[dict[str, Any]]:
        nonlocal count, skipped
        for number, page in enumerate(pages, 1):
            for item in page.get("Items", []):
                if is_bookkeeping(item):
                    skipped += 1
                else:
                    count += 1
                    yield item
            if number % 10 == 0:
                progress(f"scanning {table}: {count + skipped} items so far")

    with _aws(f"Scanning table {table}"):
        total = checksum(scanned())
    return TableDigest(table, count, total, skipped)


@dataclass(frozen=True)
class Comparison:
    a: TableDigest
    b: TableDigest

    @property
    def equal(self) -> bool:
        return (self.a.items, self.a.checksum) == (self.b.items, self.b.checksum)

    def as_dict(self) -> dict[str, Any]:
        return {"equal": self.equal, "tables": [self.a.as_dict(), self.b.as_dict()]}


def verify(table_a: str, table_b: str, progress: Progress = _quiet) -> Comparison:
    """Whether two tables hold exactly the same items."""
    return Comparison(digest_table(table_a, progress), digest_table(table_b, progress))


# --- Restored copies, and audited actions (console and `manage.py backup`) ------------


@dataclass(frozen=True)
class TableInfo:
    """A table as DescribeTable shows it, with how it was restored (if it was)."""

    name: str
    status: str  # CREATING while the restore runs, then ACTIVE
    created_at: datetime | None
    item_count: int | None  # DynamoDB's estimate, refreshed about every six hours
    size_bytes: int | None
    source_backup_arn: str | None  # None for a point-in-time restore
    restored_to: datetime | None  # the backup's time, or the point in time
    restore_in_progress: bool


def table_info(table: str) -> TableInfo:
    dynamodb = client("dynamodb")
    try:
        with _aws(f"Reading table {table}"):
            description = dynamodb.describe_table(TableName=table)["Table"]
    except BackupError as error:
        if error.aws_code == "ResourceNotFoundException":
            raise BackupNotFound(f"No table {table}: it was never made, or was deleted.") from None
        raise
    summary = description.get("RestoreSummary", {})
    return TableInfo(
        name=table,
        status=description["TableStatus"],
        created_at=description.get("CreationDateTime"),
        item_count=description.get("ItemCount"),
        size_bytes=description.get("TableSizeBytes"),
        source_backup_arn=summary.get("SourceBackupArn"),
        restored_to=summary.get("RestoreDateTime"),
        restore_in_progress=bool(summary.get("RestoreInProgress")),
    )


def restored_tables(source_table: str) -> list[TableInfo]:
    """Every ``{source_table}-restored-*`` table, newest first (ListTables
    names them; a table deleted between listing and describing is left out)."""
    prefix = f"{source_table}{RESTORED_INFIX}"
    pages = client("dynamodb").get_paginator("list_tables").paginate()
    with _aws("Listing the tables"):
        names = [name for page in pages for name in page.get("TableNames", [])]
    found = []
    for name in names:
        if name.startswith(prefix) and name != prefix:
            try:
                found.append(table_info(name))
            except BackupNotFound:
                continue
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(found, key=lambda table: table.created_at or oldest, reverse=True)


MAX_ACTOR = 128


def check_actor(actor: str) -> str:
    """Who acts, as the audit log will name them: checked before acting, so
    an unrecordable actor never leaves an unrecorded backup or restore."""
    actor = actor.strip()
    if not actor or len(actor) > MAX_ACTOR or not actor.isprintable():
        raise BackupError(
            f"The actor must be 1-{MAX_ACTOR} printable characters naming who acts, "
            "e.g. --actor oncall-alice."
        )
    return actor


# ``audit.audited`` records ``detail`` as it is when the block ends, so what
# is only known after the call (the new backup's ARN, a verify's result) is
# added to it inside the block.


def audited_create_backup(table: str, name: str, *, actor: str) -> Backup:
    """:func:`create_backup`, recorded in the audit log (``backup_create``,
    target the backup's name)."""
    actor = check_actor(actor)
    validate_backup_name(name)
    detail = {"source": table}
    with audit.audited(actor=actor, action="backup_create", target=name, detail=detail):
        backup = create_backup(table, name)
        detail["backup_arn"] = backup.arn
    return backup


def audited_restore_from_backup(backup: Backup, target_table: str, *, actor: str) -> RestoreStarted:
    """:func:`restore_from_backup`, recorded in the audit log
    (``backup_restore``, target the new table)."""
    actor = check_actor(actor)
    detail = {
        "source": backup.arn,
        "backup_name": backup.name,
        "source_table": backup.table,
        "target": target_table,
    }
    with audit.audited(actor=actor, action="backup_restore", target=target_table, detail=detail):
        return restore_from_backup(backup.arn, target_table)


def audited_restore_to_point_in_time(
    source_table: str, target_table: str, when: datetime | None, *, actor: str
) -> RestoreStarted:
    """:func:`restore_to_point_in_time`, recorded in the audit log
    (``backup_restore_pitr``, target the new table)."""
    actor = check_actor(actor)
    detail = {
        "source": source_table,
        "point": "latest" if when is None else rfc3339(when),
        "target": target_table,
    }
    with audit.audited(
        actor=actor, action="backup_restore_pitr", target=target_table, detail=detail
    ):
        return restore_to_point_in_time(source_table, target_table, when)


def audited_verify(table: str, other: str, *, actor: str) -> Comparison:
    """:func:`verify`, recorded in the audit log (``backup_verify``, target
    the compared copy, with the counts and whether they are equal)."""
    actor = check_actor(actor)
    detail = {"source": table, "target": other}
    with audit.audited(actor=actor, action="backup_verify", target=other, detail=detail):
        comparison = verify(table, other)
        detail.update(
            equal="yes" if comparison.equal else "no",
            items=f"{comparison.a.items} / {comparison.b.items}",
        )
    return comparison


# --- The restore drill -------------------------------------------------------------


@dataclass
class DrillStep:
    name: str
    seconds: float
    detail: str = ""


@dataclass
class DrillReport:
    table: str
    scratch_table: str
    restored_table: str
    steps: list[DrillStep] = field(default_factory=list)
    error: str | None = None
    cleanup_errors: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.error is None and not self.cleanup_errors

    @property
    def seconds(self) -> float:
        return sum(step.seconds for step in self.steps)

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "table": self.table,
            "scratch_table": self.scratch_table,
            "restored_table": self.restored_table,
            "seconds": round(self.seconds, 3),
            "steps": [
                {"name": s.name, "seconds": round(s.seconds, 3), "detail": s.detail}
                for s in self.steps
            ],
            "error": self.error,
            "cleanup_errors": self.cleanup_errors,
        }


def drill_names(table: str, when: datetime | None = None) -> tuple[str, str]:
    """(scratch source, restored copy): fresh ``{table}-drill-*`` names, so a
    drill can never collide with the live table or another drill."""
    scratch = f"{table}{DRILL_INFIX}{stamp(when)}-{secrets.token_hex(3)}"
    for name in (scratch, default_restore_target(scratch, when)):
        if not _NAME.fullmatch(name):
            raise BackupError(f"Table {table!r} is too long to name drill tables after it.")
    return scratch, default_restore_target(scratch, when)


def marker_items(run: str, count: int) -> list[dict[str, Any]]:
    """Items with every DynamoDB type and both index keys set, so the
    checksum and the restored indexes are exercised."""
    return [
        {
            "pk": {"S": f"DRILL#{run}"},
            "sk": {"S": f"MARKER#{number:04d}"},
            "type": {"S": "drill_marker"},
            "goal_time": {"S": f"GOAL#drill#{number:04d}"},
            "time_key": {"S": f"2026-01-01T00:00:{number % 60:02d}Z#{number}"},
            "amount": {"N": f"{number}.50"},
            "tags": {"SS": ["restore", "drill", f"n{number}"]},
            "scores": {"NS": ["1", "2.5", str(number)]},
            "blob": {"B": f"marker {number}".encode()},
            "detail": {"M": {"ok": {"BOOL": True}, "none": {"NULL": True}}},
            "history": {"L": [{"S": "created"}, {"N": str(number)}]},
        }
        for number in range(count)
    ]


def restore_drill(
    table: str | None = None,
    progress: Progress = _quiet,
    *,
    items: int = 5,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    interval: float = POLL_SECONDS,
) -> DrillReport:
    """Back up and restore a scratch copy of the table's shape, prove the
    restore equal, and remove everything it made. Failures are reported in
    the result (``passed``), not raised: a drill's job is to say what broke."""
    live = table or settings.DYNAMODB_TABLE
    scratch, restored = drill_names(live)
    report = DrillReport(live, scratch, restored)
    dynamodb = client("dynamodb")
    made_tables: list[str] = []
    made_backups: list[str] = []

    def step(name: str, action: Callable[[], str]) -> None:
        progress(f"{name} ...")
        started = time.monotonic()
        try:
            detail = action()
        except BaseException:
            report.steps.append(DrillStep(name, time.monotonic() - started, "FAILED"))
            raise
        report.steps.append(DrillStep(name, time.monotonic() - started, detail))

    def create_scratch() -> str:
        with _aws(f"Creating scratch table {scratch}"):
            dynamodb.create_table(**table_spec(scratch))
        made_tables.append(scratch)
        wait_until_active(scratch, progress, timeout=timeout, interval=interval)
        return scratch

    def put_markers() -> str:
        with _aws(f"Writing marker items to {scratch}"):
            for item in marker_items(scratch, items):
                dynamodb.put_item(TableName=scratch, Item=item)
        return f"{items} items"

    def back_up() -> str:
        backup = create_backup(scratch, f"drill-{stamp()}")
        made_backups.append(backup.arn)
        wait_until_available(backup.arn, progress, timeout=timeout, interval=interval)
        return backup.arn

    def restore() -> str:
        started = restore_from_backup(made_backups[0], restored)
        made_tables.append(started.target)
        wait_until_active(started.target, progress, timeout=timeout, interval=interval)
        return started.target

    def check() -> str:
        comparison = verify(scratch, restored, progress)
        detail = f"{comparison.b.items} items, checksum {comparison.b.checksum[:16]}"
        if not comparison.equal:
            raise BackupError(
                f"the restored table differs: {comparison.a.items} items "
                f"(checksum {comparison.a.checksum[:16]}) backed up, {comparison.b.items} "
                f"(checksum {comparison.b.checksum[:16]}) restored"
            )
        if comparison.b.items != items:
            raise BackupError(f"expected {items} marker items, found {comparison.b.items}")
        return detail + ", equal"

    try:
        step("create scratch table", create_scratch)
        step("write marker items", put_markers)
        step("back up scratch table", back_up)
        step("restore to a new table", restore)
        step("verify restored = scratch", check)
    except BackupError as error:
        report.error = str(error)
    finally:
        step("clean up", lambda: _clean_up(made_tables, made_backups, report))
    return report


def _clean_up(tables: list[str], backups: list[str], report: DrillReport) -> str:
    for name in reversed(tables):
        try:
            with _aws(f"Deleting table {name}"):
                client("dynamodb").delete_table(TableName=name)
        except BackupError as error:
            report.cleanup_errors.append(f"{error} (delete {name} by hand)")
    for arn in backups:
        try:
            delete_backup(arn)
        except BackupError as error:
            report.cleanup_errors.append(f"{error} (delete backup {arn} by hand)")
    return f"deleted {len(tables)} table(s) and {len(backups)} backup(s)"
