"""The staff audit log: who did what to whom, when, and how it ended.

Every staff action (sign-in, failed sign-in, disable, enable, backup,
restore) is one item in the single table, written once and never updated
or deleted by the application: :func:`record` is the only writer and it
refuses to overwrite.

Keys. A day's entries are spread over ``AUDIT_SHARDS`` partitions,
``pk = AUDIT#{day}#{shard}``, so a busy day (an incident, a scripted bulk
disable) is no hot partition; ``sk = {time}#{entry id}`` sorts each shard
by time. Reading a day newest first queries every shard and merges: each
shard yields its newest ``limit`` matching entries before the cursor, so
the merged first ``limit`` are exactly the day's newest, whatever the
filters. The cursor is the sort key of the last entry returned.

Entries that name a target are written twice, in one transaction: the day's
entry and a copy under ``pk = AUDIT_TARGET#{target}`` with the same sort
key, so "everything staff did to this user" (the console's user page) is one
Query, newest first, whatever the days it spans. Both are append-only.
"""

from __future__ import annotations

import heapq
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from pynamodb.attributes import MapAttribute, UnicodeAttribute, UTCDateTimeAttribute

from lifestyle.dynamo import TableItem, Transaction, put_new
from lifestyle.errors import ValidationFailed
from lifestyle.ids import new_ulid
from lifestyle.timeutil import utcnow

AUDIT_SHARDS = 8
MAX_PAGE = 200
ACTIONS = frozenset(
    {
        "sign_in",
        "sign_in_failed",
        "sign_out",
        "disable_user",
        "enable_user",
        "global_sign_out",
        "backup_create",
        "backup_restore",
        "backup_restore_pitr",
        "backup_verify",
        "account_delete",  # a user deleted their own account (accounts/deletion.py)
    }
)
RESULTS = frozenset({"ok", "failed", "refused"})
_SORT_KEY = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z#[0-9A-Z]{26}$")
_TEXT_LIMIT = 500  # actor, target, reason: enough for any name, not for a dump


class AuditEntry(TableItem, discriminator="AuditEntry"):
    entry_id = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    # Also "self:<sub>": a user acting on their own account (accounts/deletion.py).
    actor = UnicodeAttribute()  # the staff member's username, or "cli:<os user>"
    action = UnicodeAttribute()
    target = UnicodeAttribute(default="")  # a username, sub, table or backup
    result = UnicodeAttribute()
    detail = MapAttribute[str, Any](default=dict)  # e.g. {"reason": ...}


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_cursor: str | None


def _shard_of(entry_id: str) -> int:
    return zlib.crc32(entry_id.encode()) % AUDIT_SHARDS


def _pk(day: date, shard: int) -> str:
    return f"AUDIT#{day.isoformat()}#{shard}"


def _target_pk(target: str) -> str:
    return f"AUDIT_TARGET#{target}"


def _sort_key(at: datetime, entry_id: str) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%fZ}#{entry_id}"


def _bounded(name: str, value: str) -> str:
    if len(value) > _TEXT_LIMIT:
        raise ValidationFailed(fields={name: [f"At most {_TEXT_LIMIT} characters."]})
    return value


def record(
    *,
    actor: str,
    action: str,
    target: str = "",
    result: str = "ok",
    detail: dict[str, str] | None = None,
) -> AuditEntry:
    """Write one entry (never over another: a new id each time)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if result not in RESULTS:
        raise ValueError(f"unknown audit result {result!r}")
    if not actor.strip():
        raise ValidationFailed(fields={"actor": ["Who acted is required."]})
    detail = {key: _bounded(key, str(value)) for key, value in (detail or {}).items()}
    at, entry_id = utcnow(), new_ulid()
    entry = AuditEntry(
        _pk(at.date(), _shard_of(entry_id)),
        _sort_key(at, entry_id),
        entry_id=entry_id,
        at=at,
        actor=_bounded("actor", actor),
        action=action,
        target=_bounded("target", target),
        result=result,
        detail=detail,
    )
    if not target:
        return put_new(entry)
    copy = AuditEntry(_target_pk(target), entry.sk, **_fields(entry))
    written = Transaction()
    for name, item in (("entry", entry), ("by_target", copy)):
        item.created_at = item.updated_at = at
        written.put(name, item, condition=AuditEntry.pk.does_not_exist())
    written.commit()
    entry.version = 1
    return entry


def _fields(entry: AuditEntry) -> dict[str, Any]:
    return {
        name: getattr(entry, name)
        for name in ("entry_id", "at", "actor", "action", "target", "result", "detail")
    }


@contextmanager
def audited(
    *, actor: str, action: str, target: str = "", detail: dict[str, str] | None = None
) -> Iterator[None]:
    """Record the action in the block: ``ok`` if it completes, ``failed``
    (with the error's type) if it raises, and the error goes on."""
    try:
        yield
    except Exception as error:
        failed = {**(detail or {}), "error": type(error).__name__}
        record(actor=actor, action=action, target=target, result="failed", detail=failed)
        raise
    record(actor=actor, action=action, target=target, detail=detail)


def _newest(pk: str, before: str | None, condition: Any, limit: int) -> Iterator[AuditEntry]:
    range_condition = AuditEntry.sk < before if before else None
    found = AuditEntry.query(
        pk,
        range_condition,
        filter_condition=condition,
        scan_index_forward=False,
        page_size=limit,
    )
    for count, entry in enumerate(found, start=1):
        yield entry
        if count >= limit:
            return


def entries(
    day: date,
    *,
    limit: int = 50,
    cursor: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
) -> AuditPage:
    """One page of a day's entries, newest first, optionally only those of
    one ``actor``, ``action`` and/or ``target`` (exact matches)."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(fields={"limit": [f"Between 1 and {MAX_PAGE}."]})
    if cursor is not None and not _SORT_KEY.match(cursor):
        raise ValidationFailed(fields={"cursor": ["Not a cursor this log gave out."]})
    if action is not None and action not in ACTIONS:
        raise ValidationFailed(fields={"action": ["Unknown action."]})
    condition = None
    for attribute, wanted in (
        (AuditEntry.actor, actor),
        (AuditEntry.action, action),
        (AuditEntry.target, target),
    ):
        if wanted is not None:
            clause = attribute == wanted
            condition = clause if condition is None else condition & clause
    # One more than asked for tells whether a next page exists.
    shards = [
        list(_newest(_pk(day, shard), cursor, condition, limit + 1))
        for shard in range(AUDIT_SHARDS)
    ]
    merged = list(heapq.merge(*shards, key=lambda entry: entry.sk, reverse=True))
    page = merged[:limit]
    more = len(merged) > limit
    return AuditPage(entries=page, next_cursor=page[-1].sk if more and page else None)


def entries_about(target: str, *, limit: int = 20, cursor: str | None = None) -> AuditPage:
    """The newest entries naming ``target`` (a username, table...), any day:
    one Query on the target's copies."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(fields={"limit": [f"Between 1 and {MAX_PAGE}."]})
    if cursor is not None and not _SORT_KEY.match(cursor):
        raise ValidationFailed(fields={"cursor": ["Not a cursor this log gave out."]})
    found = list(_newest(_target_pk(_bounded("target", target)), cursor, None, limit + 1))
    page = found[:limit]
    return AuditPage(entries=page, next_cursor=page[-1].sk if len(found) > limit else None)
