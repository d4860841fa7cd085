"""Helpers shared by the goals tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo


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


# A goal's whole calendar, as a create may name it (without it the owner's
# profile is read for it).
CALENDAR: dict[str, Any] = {"timezone": "UTC", "week_start": "monday", "day_start_hour": 0}
