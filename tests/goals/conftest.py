"""Helpers shared by the goals tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest


class DynamoCalls:
    """The DynamoDB requests counted since the test began (or ``reset()``),
    by operation name: ``{"PutItem": 1}``."""

    prefix = "dynamodb."

    def __init__(self, aws_calls: Counter[str]) -> None:
        self._aws_calls = aws_calls

    def reset(self) -> None:
        self._aws_calls.clear()

    def __call__(self) -> dict[str, int]:
        return {
            name.removeprefix(self.prefix): count
            for name, count in self._aws_calls.items()
            if name.startswith(self.prefix)
        }


@pytest.fixture
def dynamo_calls(aws_calls: Counter[str]) -> DynamoCalls:
    return DynamoCalls(aws_calls)


def today_in(timezone: str) -> date:
    return datetime.now(ZoneInfo(timezone)).date()


def todays_around(timezone: str, action: Callable[[], object]) -> tuple[object, set[str]]:
    """Run ``action`` and return its result with the ISO dates "today" had in
    ``timezone`` just before and just after (two if midnight passed)."""
    before = today_in(timezone)
    result = action()
    return result, {before.isoformat(), today_in(timezone).isoformat()}


# Two zones far either side of UTC: at any hour of the day at least one of
# them has a different date from UTC, so a default taken in UTC shows.
FAR_ZONES = ("Pacific/Kiritimati", "Pacific/Pago_Pago")
