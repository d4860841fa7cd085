"""The user's own settings: one item per user, ``pk = USER#{user_id}``,
``sk = PROFILE``. A user who never saved one has the defaults."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from lifestyle.dynamo import TableItem, user_pk

PROFILE_SK = "PROFILE"
WEEK_STARTS = ("monday", "sunday", "saturday")
UNITS = ("metric", "imperial")


class Profile(TableItem, discriminator="Profile"):
    user_id = UnicodeAttribute()
    display_name = UnicodeAttribute(default="")
    timezone = UnicodeAttribute(default="UTC")  # IANA name; new goals start with it
    week_start = UnicodeAttribute(default="monday")
    # 0-6: a moment before this local hour counts for the previous day.
    day_start_hour = NumberAttribute(default=0)
    units = UnicodeAttribute(default="metric")

    @classmethod
    def key(cls, user_id: str) -> Profile:
        return cls(user_pk(user_id), PROFILE_SK)

    @classmethod
    def default(cls, user_id: str) -> Profile:
        """The profile of a user who has not saved one (never stored)."""
        profile = cls.key(user_id)
        profile.user_id = user_id
        profile.version = 0
        profile.created_at = profile.updated_at = None
        return profile
