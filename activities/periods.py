"""Periods, local dates and streaks: pure functions, no Django, no AWS.

An activity counts for the *local* date in its goal's timezone. Everything
after that conversion works on local ``date`` objects only (never UTC offsets
or 24-hour arithmetic), so daylight-saving changes cannot break a streak.

Each recurring period maps to an integer index, consecutive periods having
consecutive indexes. The met periods of a goal are stored as *runs*: sorted,
non-overlapping, non-adjacent inclusive ``(first_index, last_index)`` pairs.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

PERIODS = ("none", "daily", "weekly", "monthly")
RECURRING = ("daily", "weekly", "monthly")
MAX_DAY_START_HOUR = 6
# The weekday a week starts on (date.weekday(): Monday is 0). A week that
# starts on another day than Monday is keyed and indexed as the ISO week
# (Monday to Sunday) of its first Monday, by shifting each day forward.
WEEK_STARTS = {"monday": 0, "saturday": 5, "sunday": 6}

Run = tuple[int, int]  # inclusive [first_index, last_index] of consecutive met periods

_ONE_DAY = timedelta(days=1)


def _not_recurring(period: str) -> ValueError:
    if period == "none":
        return ValueError('period "none" has no index or bounds')
    return ValueError(f"unknown period: {period!r}")


def local_date(occurred_at: datetime, timezone: str, *, day_start_hour: int = 0) -> date:
    """The date in `timezone` the moment counts for. With day_start_hour=h (0-6),
    moments before h:00 local time count for the previous day (night owls).
    Raise ValueError for a naive datetime."""
    if occurred_at.utcoffset() is None:
        raise ValueError("occurred_at must be timezone-aware")
    if not 0 <= day_start_hour <= MAX_DAY_START_HOUR:
        raise ValueError(f"day_start_hour must be 0-{MAX_DAY_START_HOUR}, not {day_start_hour}")
    local = occurred_at.astimezone(ZoneInfo(timezone))
    if local.hour < day_start_hour:
        return local.date() - _ONE_DAY
    return local.date()


def _shift(week_start: int) -> int:
    """Days to add to a date so its week (starting on ``week_start``) lines
    up with an ISO week: 0 for Monday, 1 for Sunday, 2 for Saturday."""
    return (7 - week_start) % 7


def period_key(period: str, day: date, *, week_start: int = 0) -> str:
    """Stable text key of the period containing `day`: daily "2026-11-28",
    weekly ISO "2026-W48" (4-digit ISO year, 2-digit week; a week starting on
    Sunday takes the number of the ISO week of its Monday), monthly "2026-11".
    For "none" return "all". Raise ValueError for an unknown period."""
    if period == "none":
        return "all"
    if period == "daily":
        return day.isoformat()
    if period == "weekly":
        iso_year, week, _ = (day + timedelta(days=_shift(week_start))).isocalendar()
        return f"{iso_year:04d}-W{week:02d}"
    if period == "monthly":
        return f"{day.year:04d}-{day.month:02d}"
    raise _not_recurring(period)


def period_index(period: str, day: date, *, week_start: int = 0) -> int:
    """An integer such that consecutive periods have consecutive indexes:
    daily -> day.toordinal(); weekly -> index of the week (ordinal 1,
    0001-01-01, is a Monday, so ISO weeks are ``(ordinal - 1) // 7``);
    monthly -> year*12 + month - 1. ValueError for "none"/unknown."""
    if period == "daily":
        return day.toordinal()
    if period == "weekly":
        return (day.toordinal() - 1 + _shift(week_start)) // 7
    if period == "monthly":
        return day.year * 12 + day.month - 1
    raise _not_recurring(period)


def period_start_from_index(period: str, index: int, *, week_start: int = 0) -> date:
    """Inverse of period_index: the first date of the period with that index."""
    if period == "daily":
        return date.fromordinal(index)
    if period == "weekly":
        return date.fromordinal(index * 7 + 1 - _shift(week_start))
    if period == "monthly":
        year, month_offset = divmod(index, 12)
        return date(year, month_offset + 1, 1)
    raise _not_recurring(period)


def period_bounds(period: str, day: date, *, week_start: int = 0) -> tuple[date, date]:
    """First and last date (inclusive) of the period containing `day`.
    ValueError for "none"."""
    index = period_index(period, day, week_start=week_start)
    next_start = period_start_from_index(period, index + 1, week_start=week_start)
    return period_start_from_index(period, index, week_start=week_start), next_start - _ONE_DAY


def periods_between(period: str, start: date, end: date, *, week_start: int = 0) -> int:
    """How many periods of this kind touch the inclusive date range start..end
    (e.g. ISO weeks from a Sunday to the next Monday is 2). 0 if end < start."""
    first = period_index(period, start, week_start=week_start)
    last = period_index(period, end, week_start=week_start)
    return last - first + 1 if start <= end else 0


def runs_add(runs: list[Run], index: int) -> list[Run]:
    """A new sorted, non-overlapping, non-adjacent list of runs with `index`
    included (merging with neighbours: adding 5 to [(1,4),(6,9)] gives [(1,9)]).
    Adding an index already inside a run returns an equal list."""
    first, last = index, index
    kept: list[Run] = []
    for run_first, run_last in runs:
        if run_last < index - 1 or run_first > index + 1:
            kept.append((run_first, run_last))
        else:
            first, last = min(first, run_first), max(last, run_last)
    return sorted([*kept, (first, last)])


def runs_remove(runs: list[Run], index: int) -> list[Run]:
    """`index` removed (splitting a run when it is in the middle: removing 5 from
    [(1,9)] gives [(1,4),(6,9)]). Removing an absent index returns an equal list."""
    result: list[Run] = []
    for first, last in runs:
        if first <= index <= last:
            pieces = ((first, index - 1), (index + 1, last))
            result.extend(piece for piece in pieces if piece[0] <= piece[1])
        else:
            result.append((first, last))
    return result


def streaks(runs: list[Run], *, current_index: int, current_met: bool) -> tuple[int, int]:
    """(current_streak, longest_streak), in periods.
    `runs` describe met periods; the CURRENT period's membership is decided by
    `current_met` only (ignore whatever `runs` say about current_index, because the
    target may have changed since). Current streak: if the current period is met,
    the length of the run of met periods ending at current_index; otherwise the
    length of the run ending at current_index - 1 (the period in progress does not
    break a streak yet); 0 if neither. Longest: the longest run after applying
    the current period's state (never less than the current streak).
    Periods after current_index (future) are ignored."""
    applied = runs_remove(runs, current_index)
    if current_met:
        applied = runs_add(applied, current_index)
    past = [(first, min(last, current_index)) for first, last in applied if first <= current_index]
    streak_end = current_index if current_met else current_index - 1
    current = next((last - first + 1 for first, last in past if last == streak_end), 0)
    longest = max((last - first + 1 for first, last in past), default=0)
    return current, longest


def encode_runs(runs: list[Run]) -> list[list[int]]:
    """Runs as a DynamoDB list of two-number lists."""
    return [[first, last] for first, last in runs]


def _whole_number(value: object) -> int:
    """An int from storage: ints, or the integral Decimals boto3 returns."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    raise ValueError(f"run bound is not a whole number: {value!r}")


def decode_runs(raw: object) -> list[Run]:
    """Runs read back from storage, validated: a list of [first, last] pairs with
    first <= last, sorted, non-overlapping and non-adjacent. ValueError otherwise."""
    if not isinstance(raw, list | tuple):
        raise ValueError(f"runs must be a list, not {type(raw).__name__}")
    runs: list[Run] = []
    for item in raw:
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise ValueError(f"a run must be a [first, last] pair, not {item!r}")
        first, last = _whole_number(item[0]), _whole_number(item[1])
        if first > last:
            raise ValueError(f"run ends before it starts: {item!r}")
        if runs and first <= runs[-1][1] + 1:
            raise ValueError(f"runs are not sorted, separate and non-adjacent at {item!r}")
        runs.append((first, last))
    return runs
