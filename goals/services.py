"""Writes to goals: the business rules, each one DynamoDB request.

Rules that depend on the stored goal (``due_date >= start_date`` when only
one of them changes, a target's form for the goal's kind, no status change
on an archived goal) are conditions of the write itself, so they hold even
when two devices edit the same goal at once. When a condition fails
DynamoDB returns the stored goal with the failure, and that tells us which
rule was broken without a second read.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from decimal import Decimal
from typing import Any

from pynamodb.expressions.condition import Condition

from accounts.services import profile_get
from goals.models import Goal
from goals.selectors import canonical_goal_id
from lifestyle.dynamo import ConditionFailed, goal_sk, put_new, update_existing, user_pk
from lifestyle.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from lifestyle.ids import new_ulid, normalize_id
from lifestyle.timeutil import utcnow

# Fields a PATCH may change. kind, period and timezone decide how every
# logged activity is counted, so they are fixed once the goal exists.
MUTABLE_FIELDS = (
    "title",
    "description",
    "category",
    "unit",
    "target",
    "start_date",
    "due_date",
    "status",
)


def _fingerprint(fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def goal_create(
    *,
    user_id: str,
    title: str,
    kind: str,
    goal_id: str | None = None,
    description: str = "",
    category: str = "",
    unit: str = "",
    target: Decimal | None = None,
    period: str = "none",
    start_date: date | None = None,
    due_date: date | None = None,
    timezone: str | None = None,
    week_start: str | None = None,
    day_start_hour: int | None = None,
) -> tuple[Goal, bool]:
    """Create a goal; returns it and whether it was created now.

    The calendar (timezone, week start, day-start hour) not given comes from
    the owner's profile, read once. With a client-chosen ``goal_id`` the
    create is idempotent: the same request again returns the stored goal
    (created=False); a different request with that id is a 409.
    """
    client_id = normalize_id(goal_id) if goal_id else None
    if goal_id and client_id is None:
        raise ValidationFailed(fields={"id": ["Must be a UUID."]})
    # The canonical id, so a retry spelling the UUID differently is still a retry.
    requested = {
        "goal_id": client_id, "title": title, "kind": kind, "description": description,
        "category": category, "unit": unit, "target": target, "period": period,
        "start_date": start_date, "due_date": due_date, "timezone": timezone,
        "week_start": week_start, "day_start_hour": day_start_hour,
    }  # fmt: skip
    # What the calendar does not decide is checked before anything is read.
    _check_goal_rules(kind=kind, target=target, start_date=start_date, due_date=due_date)
    if timezone is None or week_start is None or day_start_hour is None:
        profile = profile_get(user_id=user_id)
        timezone = profile.timezone if timezone is None else timezone
        week_start = profile.week_start if week_start is None else week_start
        day_start_hour = int(profile.day_start_hour) if day_start_hour is None else day_start_hour
    goal_id = client_id or new_ulid()
    goal = Goal(
        user_pk(user_id),
        goal_sk(goal_id),
        goal_id=goal_id,
        user_id=user_id,
        title=title,
        description=description,
        category=category,
        kind=kind,
        unit=unit,
        target=target,
        period=period,
        due_date=_iso(due_date),
        timezone=timezone,
        week_start=week_start,
        day_start_hour=day_start_hour,
        status="active",
        request_hash=_fingerprint(requested),
        sync_pk=user_pk(user_id),
    )
    start = start_date or goal.local_date(utcnow())  # default: today in the goal's calendar
    if due_date and due_date < start:
        raise ValidationFailed(fields={"due_date": ["Must be on or after the start date."]})
    goal.start_date = start.isoformat()
    try:
        return put_new(goal), True
    except ConditionFailed as failed:
        existing = failed.current
        if isinstance(existing, Goal) and existing.request_hash == goal.request_hash:
            return existing, False
        raise Conflict("A different goal already has this id.") from None


def _check_goal_rules(
    *, kind: str, target: Decimal | None, start_date: date | None, due_date: date | None
) -> None:
    errors: dict[str, list[str]] = {}
    target_error = target_problem(kind, target)
    if target_error:
        errors["target"] = [target_error]
    if start_date and due_date and due_date < start_date:
        errors["due_date"] = ["Must be on or after the start date."]
    if errors:
        raise ValidationFailed(fields=errors)


def target_problem(kind: str, target: Decimal | None) -> str | None:
    """Why ``target`` does not suit a goal of ``kind``, or None."""
    if target is None:
        return None if kind == "habit" else "Required for this kind of goal."
    if kind != "amount" and target != target.to_integral_value():
        return "Must be a whole number for this kind of goal."
    return None


def goal_update(
    *, user_id: str, goal_id: str, changes: dict[str, Any], expected_version: int | None
) -> Goal:
    """Apply ``changes`` (a subset of MUTABLE_FIELDS) if the goal still has
    ``expected_version`` (None: any version)."""
    unknown = set(changes) - set(MUTABLE_FIELDS)
    if unknown:
        raise ValidationFailed(fields={name: ["This field cannot be changed."] for name in unknown})
    if not changes:
        raise ValidationFailed("Send at least one field to change.")
    if changes.get("status") == "archived":
        # Archiving also stamps archived_at: only goal_archive does it.
        raise ValidationFailed(fields={"status": ["Archive with goal_archive (POST .../archive)."]})
    start, due = changes.get("start_date"), changes.get("due_date")
    if start and due and due < start:
        raise ValidationFailed(fields={"due_date": ["Must be on or after the start date."]})

    condition: Condition | None = None

    def require(extra: Condition) -> None:
        nonlocal condition
        condition = extra if condition is None else condition & extra

    if "target" in changes:
        target = changes["target"]
        if target is None:
            require(Goal.kind == "habit")
        elif target != target.to_integral_value():
            require(Goal.kind == "amount")
    if due and "start_date" not in changes:
        require(Goal.start_date <= due.isoformat())
    if start and "due_date" not in changes:
        require(Goal.due_date.does_not_exist() | (Goal.due_date >= start.isoformat()))
    if "status" in changes:
        require(Goal.status != "archived")

    actions = [Goal.sync_pk.set(user_pk(user_id))]  # a goal older than delta sync joins it
    for name, value in changes.items():
        attribute = getattr(Goal, name)
        if isinstance(value, date):
            value = value.isoformat()
        actions.append(attribute.remove() if value is None else attribute.set(value))
    try:
        return update_existing(
            Goal.key(user_id, canonical_goal_id(goal_id)),
            actions,
            condition,
            version=expected_version,
        )
    except ConditionFailed as failed:
        raise _explain_update_failure(failed.current, changes, expected_version) from None


def _explain_update_failure(
    current: Any, changes: dict[str, Any], expected_version: int | None
) -> Exception:
    if not isinstance(current, Goal):
        return NotFound("No such goal.")
    if expected_version is not None and current.version != expected_version:
        return PreconditionFailed()
    if "status" in changes and current.status == "archived":
        return Conflict("The goal is archived: unarchive it first.")
    if "target" in changes:
        problem = target_problem(current.kind, changes["target"])
        if problem:
            return ValidationFailed(fields={"target": [problem]})
    start = changes.get("start_date") or date.fromisoformat(current.start_date)
    due = changes.get("due_date", current.due_date and date.fromisoformat(current.due_date))
    if due and due < start:
        field = "due_date" if "due_date" in changes else "start_date"
        return ValidationFailed(
            fields={field: ["The due date must be on or after the start date."]}
        )
    return PreconditionFailed()  # the goal changed between check and write


def goal_archive(*, user_id: str, goal_id: str, expected_version: int | None = None) -> Goal:
    """Archive the goal; archiving an archived goal changes nothing."""
    return _set_archived(user_id, goal_id, archived=True, expected_version=expected_version)


def goal_unarchive(*, user_id: str, goal_id: str, expected_version: int | None = None) -> Goal:
    """Make an archived goal active again; other goals are left as they are."""
    return _set_archived(user_id, goal_id, archived=False, expected_version=expected_version)


def _set_archived(
    user_id: str, goal_id: str, *, archived: bool, expected_version: int | None
) -> Goal:
    if archived:
        actions = [Goal.status.set("archived"), Goal.archived_at.set(utcnow())]
        condition = Goal.status != "archived"
    else:
        actions = [Goal.status.set("active"), Goal.archived_at.remove()]
        condition = Goal.status == "archived"
    actions.append(Goal.sync_pk.set(user_pk(user_id)))
    try:
        return update_existing(
            Goal.key(user_id, canonical_goal_id(goal_id)),
            actions,
            condition,
            version=expected_version,
        )
    except ConditionFailed as failed:
        current = failed.current
        if not isinstance(current, Goal):
            raise NotFound("No such goal.") from None
        if expected_version is not None and current.version != expected_version:
            raise PreconditionFailed() from None
        return current  # already in the state asked for
