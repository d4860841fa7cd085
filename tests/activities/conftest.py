"""Fixtures the activities API tests share."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from goals.models import Goal
from tests.activities.test_services import new_goal, purge
from tests.conftest import User


@pytest.fixture
def purged_after(request: pytest.FixtureRequest, user: User) -> Iterator[None]:
    """The test's partitions (``user``'s, and ``other_user``'s if it has
    one) go when it ends: moto slows as the table grows (see ``purge``)."""
    users = [user]
    if "other_user" in request.fixturenames:
        users.append(request.getfixturevalue("other_user"))
    yield
    for each in users:
        purge(each.user_id)


@pytest.fixture
def make_goal(user: User) -> Callable[..., Goal]:
    """A goal of ``user``: a daily habit in UTC from 2026-01-01 unless told."""
    return lambda **fields: new_goal(user.user_id, **fields)
