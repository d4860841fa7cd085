"""0003: goals and activities written before delta sync join its index.

Delta sync (sync/) reads a global secondary index keyed on ``sync_pk``; an
item without one is invisible to it. New goals and activities get it when
written, and any later write to an old one adds it; this fills it in on the
rest. ``updated_at`` stays as it was: a device that synced since then
already holds these items, and a device taking a snapshot gets them either
way.
"""

from __future__ import annotations

from datetime import datetime

from lifestyle.data_migrations import DataMigration, Item

SYNCED_TYPES = ("Goal", "Activity")


def applies_to(item: Item) -> bool:
    return item.get("type") in SYNCED_TYPES and "sync_pk" not in item


def transform(item: Item, now: datetime) -> Item:
    if not applies_to(item):
        return item
    return {**item, "sync_pk": item["pk"]}


migration = DataMigration(
    number=3,
    description="Goals and activities get sync_pk, joining delta sync's change index",
    applies_to=applies_to,
    transform=transform,
)
