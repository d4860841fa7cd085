"""The profile: read (defaults when never saved) and change in one write."""

from __future__ import annotations

from typing import Any

from accounts.models import PROFILE_SK, Profile
from lifestyle.dynamo import ConditionFailed, update_existing, user_pk
from lifestyle.errors import PreconditionFailed, ValidationFailed

MUTABLE_FIELDS = ("display_name", "timezone", "week_start", "day_start_hour", "units")


def profile_get(*, user_id: str) -> Profile:
    """The stored profile, or the defaults (version 0) if there is none."""
    try:
        return Profile.get(user_pk(user_id), PROFILE_SK, consistent_read=True)
    except Profile.DoesNotExist:
        return Profile.default(user_id)


def profile_update(
    *, user_id: str, changes: dict[str, Any], expected_version: int | None
) -> Profile:
    """Save ``changes`` (creating the profile on first save) if it still has
    ``expected_version`` (None: any; 0: never saved). One UpdateItem.

    Goals keep the timezone, week start and day-start hour they were created
    with, so a change here applies to goals created afterwards and never
    moves an activity already logged to another day."""
    unknown = set(changes) - set(MUTABLE_FIELDS)
    if unknown:
        raise ValidationFailed(fields={name: ["This field cannot be changed."] for name in unknown})
    if not changes:
        raise ValidationFailed("Send at least one field to change.")
    actions = [getattr(Profile, name).set(value) for name, value in changes.items()]
    actions += [Profile.user_id.set(user_id), Profile.sync_pk.set(user_pk(user_id))]
    try:
        return update_existing(Profile.key(user_id), actions, version=expected_version, create=True)
    except ConditionFailed:
        raise PreconditionFailed("The profile has changed since you read it.") from None
