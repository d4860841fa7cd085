"""Goal items: ``pk = USER#{user_id}``, ``sk = GOAL#{goal_id}``."""

from __future__ import annotations

from decimal import Decimal

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute

from lifestyle.dynamo import DecimalAttribute, TableItem, goal_sk, user_pk

KINDS = ("habit", "count", "amount", "duration")
PERIODS = ("none", "daily", "weekly", "monthly")
STATUSES = ("active", "archived", "completed")


class Goal(TableItem, discriminator="Goal"):
    goal_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    title = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    category = UnicodeAttribute(default="")
    kind = UnicodeAttribute()
    unit = UnicodeAttribute(default="")
    target = DecimalAttribute(null=True)
    period = UnicodeAttribute(default="none")
    start_date = UnicodeAttribute()  # ISO date in the goal's timezone
    due_date = UnicodeAttribute(null=True)
    timezone = UnicodeAttribute(default="UTC")
    status = UnicodeAttribute(default="active")
    archived_at = UTCDateTimeAttribute(null=True)
    # Fingerprint of the create request, so a retry can be told from a clash.
    request_hash = UnicodeAttribute(null=True)

    @property
    def period_target(self) -> Decimal:
        """What one period must reach to count as met (a habit without a
        target: done once)."""
        return self.target if self.target is not None else Decimal(1)

    @classmethod
    def key(cls, user_id: str, goal_id: str) -> Goal:
        """An instance holding only the key, for writes that need no read."""
        return cls(user_pk(user_id), goal_sk(goal_id))
