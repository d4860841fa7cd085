"""0002, the runbook's example: every item says it is at schema version 2
and when it was migrated.

Version-1 items have no ``schema_version`` (or 1) and no ``migrated_at``;
the models read them with defaults (``TableItem.schema_version`` defaults to
1, ``migrated_at`` is nullable), so the API serves them before, during and
after this migration. ``migrated_at`` is written in the format of PynamoDB's
``UTCDateTimeAttribute`` (ISO 8601 in UTC), the one the model reads back.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import UTCDateTimeAttribute

from lifestyle.data_migrations import DataMigration, Item

SCHEMA_VERSION = 2
_TIMESTAMP = UTCDateTimeAttribute()


def applies_to(item: Item) -> bool:
    """Entity items (they have a ``type``) still at schema version 1."""
    return "type" in item and item.get("schema_version", 1) < SCHEMA_VERSION


def transform(item: Item, now: datetime) -> Item:
    if not applies_to(item):
        return item  # already migrated (or not ours): idempotent
    return {**item, "schema_version": SCHEMA_VERSION, "migrated_at": _TIMESTAMP.serialize(now)}


migration = DataMigration(
    number=2,
    description="Items get schema_version 2 and migrated_at (the runbook's example)",
    applies_to=applies_to,
    transform=transform,
)
