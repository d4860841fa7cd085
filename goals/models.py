"""Goal items: ``pk = USER#{user_id}``, ``sk = GOAL#{goal_id}``."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from activities import periods
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
    # The calendar the goal counts in, fixed when it is created (from the
    # owner's profile unless the client chose): changing them later would
    # move logged activities between days and weeks.
    timezone = UnicodeAttribute(default="UTC")
    week_start = UnicodeAttribute(default="monday")
    day_start_hour = NumberAttribute(default=0)
    status = UnicodeAttribute(default="active")
    archived_at = UTCDateTimeAttribute(null=True)
    # Fingerprint of the create request, so a retry can be told from a clash.
    request_hash = UnicodeAttribute(null=True)

    @property
    def period_target(self) -> Decimal:
        """What one period must reach to count as met (a habit without a
        target: done once)."""
        return self.target if self.target is not None else Decimal(1)

    # The period arithmetic of activities.periods in this goal's calendar.

    def local_date(self, moment: datetime) -> date:
        """The day ``moment`` counts for."""
        return periods.local_date(moment, self.timezone, day_start_hour=int(self.day_start_hour))

    @property
    def _week_start(self) -> int:
        return periods.WEEK_STARTS[self.week_start]

    def period_key(self, day: date) -> str:
        return periods.period_key(self.period, day, week_start=self._week_start)

    def period_index(self, day: date) -> int:
        return periods.period_index(self.period, day, week_start=self._week_start)

    def period_bounds(self, day: date) -> tuple[date, date]:
        return periods.period_bounds(self.period, day, week_start=self._week_start)

    def periods_between(self, start: date, end: date) -> int:
        return periods.periods_between(self.period, start, end, week_start=self._week_start)

    @classmethod
    def key(cls, user_id: str, goal_id: str) -> Goal:
        """An instance holding only the key, for writes that need no read."""
        return cls(user_pk(user_id), goal_sk(goal_id))
