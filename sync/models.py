"""What delta sync reads: the change index and the tombstones of deleted items.

Every item a client keeps a copy of (its profile, goals and activities)
carries ``sync_pk = USER#{user_id}``. The global secondary index
``by_change`` (``TableItem.by_change``) is keyed on ``sync_pk`` and
``updated_at``, so "everything of this user changed after T" is one Query,
a page at a time, in the order the changes happened. Aggregates (progress,
buckets) and the console's records have no ``sync_pk`` and so stay out of
the index: clients fetch progress themselves.

A deleted activity leaves a tombstone in the same partition (``sk =
TOMBSTONE#ACTIVITY#{id}``), written in the delete's own transaction, with
``expires_at`` :data:`TOMBSTONE_DAYS` days later: DynamoDB's TTL removes it
some time after that. A client that has not synced for longer than that
may have missed a deletion, so its cursor is refused and it takes a full
snapshot instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from lifestyle.dynamo import TableItem, user_pk

INDEX_NAME = TableItem.by_change.Meta.index_name
# Deletions are remembered this long at least; a cursor older than this is refused.
TOMBSTONE_DAYS = 30
# TTL deletes an expired item within days, never before: one more day of margin.
TOMBSTONE_TTL = timedelta(days=TOMBSTONE_DAYS + 1)


def tombstone_sk(kind: str, item_id: str) -> str:
    return f"TOMBSTONE#{kind.upper()}#{item_id}"


class Tombstone(TableItem, discriminator="Tombstone"):
    kind = UnicodeAttribute()  # "activity"
    item_id = UnicodeAttribute()
    goal_id = UnicodeAttribute(null=True)
    expires_at = NumberAttribute()  # epoch seconds, DynamoDB TTL

    @classmethod
    def of(
        cls, user_id: str, kind: str, item_id: str, now: datetime, *, goal_id: str | None = None
    ) -> Tombstone:
        """The tombstone of ``item_id``, deleted at ``now``."""
        return cls(
            user_pk(user_id),
            tombstone_sk(kind, item_id),
            sync_pk=user_pk(user_id),
            kind=kind,
            item_id=item_id,
            expires_at=int((now + TOMBSTONE_TTL).timestamp()),
            created_at=now,
            updated_at=now,
            goal_id=goal_id,
        )
