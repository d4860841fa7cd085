"""Activity items and the per-goal aggregates written with them.

Keys (all in the user's partition, ``pk = USER#{user_id}``):

- ``ACTIVITY#{activity_id}``: one logged activity. Addressed by id alone
  (``/activities/{id}``), so its key holds nothing that can change; time
  order comes from two local secondary indexes instead:
  ``by_goal_time`` (``goal_time = {goal_id}#{occurred_at}#{id}``) lists a
  goal's activities in time order, ``by_time`` (``time_key =
  {occurred_at}#{id}``) lists them across goals. DESIGN.md put the time in
  the sort key itself; with it there, moving an activity in time would be
  a delete and a put, and reaching it by id would need a pointer item.
- ``PROGRESS#{goal_id}``: running totals for the whole goal and the runs of
  consecutive periods met (for streaks).
- ``BUCKET#{goal_id}#{period_key}``: the total of one period (day, ISO week
  or month in the goal's timezone) of a recurring goal.

The activity, the progress item and the bucket change together in one
TransactWriteItems, guarded by the progress item's version, so totals can
never drift from the activities and progress reads cost the same whatever
the history's length.
"""

from __future__ import annotations

from decimal import Decimal

from pynamodb.attributes import (
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, LocalSecondaryIndex

from lifestyle.dynamo import DecimalAttribute, TableItem, user_pk

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width: text order is time order


def activity_sk(activity_id: str) -> str:
    return f"ACTIVITY#{activity_id}"


def progress_sk(goal_id: str) -> str:
    return f"PROGRESS#{goal_id}"


def bucket_sk(goal_id: str, period_key: str) -> str:
    return f"BUCKET#{goal_id}#{period_key}"


class ActivitiesByGoalTime(LocalSecondaryIndex["Activity"]):
    class Meta:
        index_name = "by_goal_time"
        projection = AllProjection()

    pk = UnicodeAttribute(hash_key=True)
    goal_time = UnicodeAttribute(range_key=True)


class ActivitiesByTime(LocalSecondaryIndex["Activity"]):
    class Meta:
        index_name = "by_time"
        projection = AllProjection()

    pk = UnicodeAttribute(hash_key=True)
    time_key = UnicodeAttribute(range_key=True)


class Attachment(MapAttribute):
    key = UnicodeAttribute()
    content_type = UnicodeAttribute()
    size = NumberAttribute()
    status = UnicodeAttribute(default="pending")  # pending until confirmed
    created_at = UTCDateTimeAttribute()


class Activity(TableItem, discriminator="Activity"):
    activity_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    goal_id = UnicodeAttribute()
    value = DecimalAttribute()
    occurred_at = UTCDateTimeAttribute()
    local_date = UnicodeAttribute()  # the goal-timezone date it counts for
    period_key = UnicodeAttribute()
    note = UnicodeAttribute(default="")
    goal_time = UnicodeAttribute()
    time_key = UnicodeAttribute()
    request_hash = UnicodeAttribute(null=True)
    attachments = MapAttribute[str, Attachment](default=dict)

    by_goal_time = ActivitiesByGoalTime()
    by_time = ActivitiesByTime()

    @classmethod
    def key(cls, user_id: str, activity_id: str) -> Activity:
        return cls(user_pk(user_id), activity_sk(activity_id))

    def place_in_time(self) -> None:
        """Set the index keys from ``occurred_at``."""
        stamp = self.occurred_at.strftime(TIME_FORMAT)
        self.time_key = f"{stamp}#{self.activity_id}"
        self.goal_time = f"{self.goal_id}#{self.time_key}"


class GoalProgress(TableItem, discriminator="GoalProgress"):
    goal_id = UnicodeAttribute()
    total = DecimalAttribute(default=Decimal)  # Decimal() is 0
    activity_count = NumberAttribute(default=0)
    last_activity_at = UTCDateTimeAttribute(null=True)
    # JSON list of [first, last] period indexes of consecutive periods met.
    met_runs = UnicodeAttribute(default="[]")


class PeriodBucket(TableItem, discriminator="PeriodBucket"):
    goal_id = UnicodeAttribute()
    period_key = UnicodeAttribute()
    total = DecimalAttribute(default=Decimal)  # Decimal() is 0
    activity_count = NumberAttribute(default=0)
