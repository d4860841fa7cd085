"""Delta sync: a user's changes since a point, a page (one Query) at a time.

A position in the change index is the time from which changes are wanted
(``since``; None for a full snapshot) and, mid-traversal, the key of the
last item returned. When a traversal reaches the end, the next one starts
from :data:`SETTLE` before the moment this one began, not from the newest
change seen: the index is eventually consistent, and a change stamped a
moment before another may land a moment after it (a retried transaction,
two Lambda clocks). Changes of the last few seconds may therefore come
twice; clients apply them by id and version, so that is harmless, while a
change skipped would be lost for good.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import UTCDateTimeAttribute

from lifestyle.dynamo import TableItem, query_page, user_pk
from lifestyle.errors import ApplicationError
from lifestyle.timeutil import utcnow
from sync.models import TOMBSTONE_DAYS, Tombstone

SETTLE = timedelta(seconds=30)
_STAMP = UTCDateTimeAttribute()  # the index's sort key format: text order is time order


class CursorExpired(ApplicationError):
    status = 410
    code = "cursor_expired"
    default_message = (
        f"Your last sync was more than {TOMBSTONE_DAYS} days ago, and deletions older than "
        "that are forgotten: sync without a cursor to take a full snapshot."
    )


@dataclass(frozen=True)
class Position:
    """Where a traversal of the change index stands (what a cursor holds)."""

    since: str | None  # changes after this stamp; None: a snapshot of everything
    started: str | None = None  # when this traversal began (None: none begun)
    key: dict[str, Any] | None = None  # the index key to continue after

    def as_dict(self) -> dict[str, Any]:
        return {"since": self.since, "started": self.started, "key": self.key}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Position:
        return cls(since=raw.get("since"), started=raw.get("started"), key=raw.get("key"))


@dataclass(frozen=True)
class SyncPage:
    items: list[TableItem]  # profile, goals, activities and tombstones, oldest change first
    position: Position  # where the next page starts
    has_more: bool  # False: caught up; the position is for the next sync
    snapshot: bool  # this page is part of a full snapshot


def sync_page(
    *, user_id: str, position: Position | None, limit: int, now: datetime | None = None
) -> SyncPage:
    """One page of changes: a snapshot without a position, else the changes
    after it. Raises :class:`CursorExpired` when deletions since ``since``
    may already be forgotten."""
    now = now or utcnow()
    if position is None or position.key is None or position.started is None:  # a new traversal
        since = position.since if position else None
        position = Position(since=since, started=_STAMP.serialize(now))
    if position.since is not None and position.since < _STAMP.serialize(
        now - timedelta(days=TOMBSTONE_DAYS)
    ):
        raise CursorExpired()
    snapshot = position.since is None
    items, last_key = query_page(
        TableItem,
        user_pk(user_id),
        None if snapshot else TableItem.updated_at > _STAMP.deserialize(position.since),
        # A snapshot is what exists: deletions are for devices that hold copies.
        filter_condition=(TableItem.type != Tombstone) if snapshot else None,
        limit=limit,
        start_key=position.key,
        newest_first=False,
        index=TableItem.by_change,
    )
    if last_key:
        following = Position(since=position.since, started=position.started, key=last_key)
    else:
        settled = _STAMP.serialize(_STAMP.deserialize(position.started) - SETTLE)
        following = Position(since=max(position.since or settled, settled))
    return SyncPage(items=items, position=following, has_more=bool(last_key), snapshot=snapshot)
