"""Reads of goals. Each costs one DynamoDB request."""

from __future__ import annotations

from typing import Any

from goals.models import Goal
from lifestyle.dynamo import goal_sk, query_page, user_pk
from lifestyle.errors import NotFound
from lifestyle.ids import normalize_id


def canonical_goal_id(goal_id: str) -> str:
    """The id as stored; text that is no id at all is not found, unsent."""
    canonical = normalize_id(goal_id)
    if canonical is None:
        raise NotFound("No such goal.")
    return canonical


def goal_get(*, user_id: str, goal_id: str) -> Goal:
    """The caller's goal; another user's goal is simply not found."""
    try:
        return Goal.get(user_pk(user_id), goal_sk(canonical_goal_id(goal_id)))
    except Goal.DoesNotExist:
        raise NotFound("No such goal.") from None


def goal_list(
    *, user_id: str, status: str | None, limit: int, start_key: dict[str, Any] | None
) -> tuple[list[Goal], dict[str, Any] | None]:
    """A page of the caller's goals in id order (newest first for server
    ids, which are ULIDs) and the key to continue from. With a status
    filter a page may hold fewer than ``limit`` goals: keep following the
    cursor until it is gone."""
    return query_page(
        Goal,
        user_pk(user_id),
        Goal.sk.startswith("GOAL#"),
        filter_condition=(Goal.status == status) if status else None,
        limit=limit,
        start_key=start_key,
    )
