"""Local dates, period keys/indexes/bounds, runs and streaks (pure functions)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from activities.periods import (
    PERIODS,
    RECURRING,
    Run,
    decode_runs,
    encode_runs,
    local_date,
    period_bounds,
    period_index,
    period_key,
    period_start_from_index,
    periods_between,
    runs_add,
    runs_remove,
    streaks,
)

NEW_YORK = "America/New_York"
KIRITIMATI = "Pacific/Kiritimati"  # UTC+14
PAGO_PAGO = "Pacific/Pago_Pago"  # UTC-11
SPRING_FORWARD = date(2026, 3, 8)  # New York: a 23-hour day
FALL_BACK = date(2026, 11, 1)  # New York: a 25-hour day
ONE_DAY = timedelta(days=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def at_local(day: date, wall: time, zone: str) -> datetime:
    """The UTC instant of a local wall-clock time (as an app client would send it)."""
    return datetime.combine(day, wall, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def days(start: date, count: int) -> list[date]:
    return [start + ONE_DAY * offset for offset in range(count)]


def runs_of(indexes: set[int]) -> list[Run]:
    """Brute force: the runs of a set of indexes."""
    runs: list[Run] = []
    for index in sorted(indexes):
        if runs and runs[-1][1] == index - 1:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    return runs


# --- local_date --------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "zone", "expected"),
    [
        # 23:30 local the evening before each change, and after it.
        (utc(2026, 3, 8, 4, 30), NEW_YORK, date(2026, 3, 7)),  # 23:30 EST
        (utc(2026, 3, 9, 3, 30), NEW_YORK, date(2026, 3, 8)),  # 23:30 EDT
        (utc(2026, 11, 1, 3, 30), NEW_YORK, date(2026, 10, 31)),  # 23:30 EDT
        (utc(2026, 11, 2, 4, 30), NEW_YORK, date(2026, 11, 1)),  # 23:30 EST
        # Both 01:30s of the repeated hour on the fall-back day.
        (utc(2026, 11, 1, 5, 30), NEW_YORK, FALL_BACK),  # 01:30 EDT
        (utc(2026, 11, 1, 6, 30), NEW_YORK, FALL_BACK),  # 01:30 EST
        # One UTC instant, three local dates.
        (utc(2026, 6, 15, 10, 0), "UTC", date(2026, 6, 15)),
        (utc(2026, 6, 15, 10, 0), KIRITIMATI, date(2026, 6, 16)),  # 00:00 local
        (utc(2026, 6, 15, 10, 0), PAGO_PAGO, date(2026, 6, 14)),  # 23:00 local
        # 23:59 / 00:00 local edges.
        (utc(2026, 6, 15, 9, 59), KIRITIMATI, date(2026, 6, 15)),  # 23:59 local
        (utc(2026, 6, 16, 10, 59), PAGO_PAGO, date(2026, 6, 15)),  # 23:59 local
        (utc(2026, 6, 16, 11, 0), PAGO_PAGO, date(2026, 6, 16)),  # 00:00 local
        # Any aware input works, not just UTC.
        (
            datetime(2026, 6, 15, 3, 0, tzinfo=timezone(timedelta(hours=5))),
            NEW_YORK,
            date(2026, 6, 14),
        ),
    ],
)
def test_local_date(instant: datetime, zone: str, expected: date) -> None:
    assert local_date(instant, zone) == expected


@pytest.mark.parametrize(
    ("day", "hours"), [(SPRING_FORWARD, 23), (FALL_BACK, 25), (date(2026, 6, 15), 24)]
)
def test_every_moment_of_a_dst_day_counts_for_that_one_day(day: date, hours: int) -> None:
    start, end = at_local(day, time(0), NEW_YORK), at_local(day + ONE_DAY, time(0), NEW_YORK)
    assert end - start == timedelta(hours=hours)
    moments = [start + timedelta(minutes=minutes) for minutes in range(0, hours * 60, 15)]
    assert {local_date(moment, NEW_YORK) for moment in moments} == {day}
    assert local_date(start - timedelta(minutes=1), NEW_YORK) == day - ONE_DAY
    assert local_date(end, NEW_YORK) == day + ONE_DAY


@pytest.mark.parametrize(
    ("wall", "zone", "day_start_hour", "expected"),
    [
        (time(1, 30), NEW_YORK, 4, date(2026, 6, 15)),
        (time(3, 59), NEW_YORK, 4, date(2026, 6, 15)),
        (time(4, 0), NEW_YORK, 4, date(2026, 6, 16)),
        (time(1, 30), NEW_YORK, 0, date(2026, 6, 16)),
        (time(0, 0), NEW_YORK, 0, date(2026, 6, 16)),
        (time(5, 59), KIRITIMATI, 6, date(2026, 6, 15)),
        (time(6, 0), PAGO_PAGO, 6, date(2026, 6, 16)),
    ],
)
def test_day_start_hour(wall: time, zone: str, day_start_hour: int, expected: date) -> None:
    moment = at_local(date(2026, 6, 16), wall, zone)
    assert local_date(moment, zone, day_start_hour=day_start_hour) == expected


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (utc(2026, 3, 8, 7, 30), date(2026, 3, 7)),  # 03:30 EDT, an hour after 01:30 EST
        (utc(2026, 3, 8, 8, 0), SPRING_FORWARD),  # 04:00 EDT
        (utc(2026, 11, 1, 8, 30), date(2026, 10, 31)),  # 03:30 EST
        (utc(2026, 11, 1, 9, 0), FALL_BACK),  # 04:00 EST
    ],
)
def test_day_start_hour_on_dst_days(instant: datetime, expected: date) -> None:
    assert local_date(instant, NEW_YORK, day_start_hour=4) == expected


class _NoOffset(tzinfo):
    """A tzinfo that gives no offset: Python calls such datetimes naive too."""

    def utcoffset(self, dt: datetime | None) -> None:
        return None

    def dst(self, dt: datetime | None) -> None:
        return None

    def tzname(self, dt: datetime | None) -> None:
        return None


@pytest.mark.parametrize(
    "moment",
    [datetime(2026, 6, 15, 12, 0), datetime(2026, 6, 15, 12, 0, tzinfo=_NoOffset())],  # noqa: DTZ001
)
def test_local_date_rejects_naive_datetimes(moment: datetime) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        local_date(moment, NEW_YORK)


@pytest.mark.parametrize("day_start_hour", [-1, 7, 24])
def test_local_date_rejects_day_start_hour_out_of_range(day_start_hour: int) -> None:
    with pytest.raises(ValueError, match="day_start_hour"):
        local_date(utc(2026, 6, 15, 12), NEW_YORK, day_start_hour=day_start_hour)


# --- keys, indexes, bounds -----------------------------------------------------


@pytest.mark.parametrize(
    ("period", "day", "expected"),
    [
        ("none", date(2026, 11, 28), "all"),
        ("daily", date(2026, 11, 28), "2026-11-28"),
        ("daily", date(2024, 2, 29), "2024-02-29"),
        ("weekly", date(2026, 11, 28), "2026-W48"),
        ("weekly", date(2026, 12, 28), "2026-W53"),
        ("weekly", date(2026, 12, 31), "2026-W53"),
        ("weekly", date(2027, 1, 1), "2026-W53"),
        ("weekly", date(2027, 1, 3), "2026-W53"),
        ("weekly", date(2027, 1, 4), "2027-W01"),
        ("weekly", date(2024, 12, 30), "2025-W01"),
        ("weekly", date(999, 1, 5), "0999-W01"),
        ("monthly", date(2026, 11, 28), "2026-11"),
        ("monthly", date(2024, 2, 29), "2024-02"),
    ],
)
def test_period_key(period: str, day: date, expected: str) -> None:
    assert period_key(period, day) == expected


@pytest.mark.parametrize("period", ["yearly", "", "Daily", "all"])
def test_unknown_period_is_rejected_everywhere(period: str) -> None:
    day = date(2026, 6, 15)
    with pytest.raises(ValueError, match="unknown period"):
        period_key(period, day)
    for call in (
        lambda: period_index(period, day),
        lambda: period_start_from_index(period, 0),
        lambda: period_bounds(period, day),
        lambda: periods_between(period, day, day),
    ):
        with pytest.raises(ValueError, match="unknown period"):
            call()


def test_none_has_no_index_start_bounds_or_count() -> None:
    day = date(2026, 6, 15)
    for call in (
        lambda: period_index("none", day),
        lambda: period_start_from_index("none", 0),
        lambda: period_bounds("none", day),
        lambda: periods_between("none", day, day),
    ):
        with pytest.raises(ValueError, match='"none"'):
            call()


def test_period_constants() -> None:
    assert PERIODS == ("none", "daily", "weekly", "monthly")
    assert RECURRING == ("daily", "weekly", "monthly")


@pytest.mark.parametrize(
    ("period", "earlier", "later"),
    [
        ("daily", date(2024, 2, 28), date(2024, 2, 29)),
        ("daily", date(2024, 2, 29), date(2024, 3, 1)),
        ("daily", date(2026, 3, 7), SPRING_FORWARD),
        ("daily", SPRING_FORWARD, date(2026, 3, 9)),
        ("daily", date(2026, 10, 31), FALL_BACK),
        ("daily", FALL_BACK, date(2026, 11, 2)),
        ("weekly", date(2026, 12, 27), date(2026, 12, 28)),
        ("weekly", date(2026, 12, 31), date(2027, 1, 4)),
        ("weekly", date(2027, 1, 3), date(2027, 1, 4)),
        ("weekly", date(2024, 12, 29), date(2024, 12, 30)),
        ("monthly", date(2026, 1, 31), date(2026, 2, 1)),
        ("monthly", date(2026, 1, 31), date(2026, 2, 28)),
        ("monthly", date(2024, 2, 29), date(2024, 3, 1)),
        ("monthly", date(2026, 12, 31), date(2027, 1, 1)),
    ],
)
def test_period_index_is_consecutive_across_boundaries(
    period: str, earlier: date, later: date
) -> None:
    assert period_index(period, later) == period_index(period, earlier) + 1


@pytest.mark.parametrize(
    ("period", "one", "other"),
    [
        ("weekly", date(2026, 12, 28), date(2027, 1, 3)),  # all of 2026-W53
        ("weekly", date(2026, 3, 2), SPRING_FORWARD),  # Monday and the DST Sunday
        ("monthly", date(2024, 2, 1), date(2024, 2, 29)),
        ("monthly", date(2026, 11, 1), date(2026, 11, 30)),
    ],
)
def test_period_index_is_shared_within_a_period(period: str, one: date, other: date) -> None:
    assert period_index(period, one) == period_index(period, other)


@pytest.mark.parametrize(
    ("period", "day", "first", "last"),
    [
        ("daily", date(2024, 2, 29), date(2024, 2, 29), date(2024, 2, 29)),
        ("daily", SPRING_FORWARD, SPRING_FORWARD, SPRING_FORWARD),
        ("weekly", date(2026, 11, 28), date(2026, 11, 23), date(2026, 11, 29)),
        ("weekly", date(2026, 12, 31), date(2026, 12, 28), date(2027, 1, 3)),
        ("weekly", date(2027, 1, 4), date(2027, 1, 4), date(2027, 1, 10)),
        ("monthly", date(2024, 2, 10), date(2024, 2, 1), date(2024, 2, 29)),
        ("monthly", date(2026, 2, 10), date(2026, 2, 1), date(2026, 2, 28)),
        ("monthly", date(2026, 12, 31), date(2026, 12, 1), date(2026, 12, 31)),
        ("monthly", date(2027, 1, 1), date(2027, 1, 1), date(2027, 1, 31)),
        ("monthly", date(2026, 4, 30), date(2026, 4, 1), date(2026, 4, 30)),
    ],
)
def test_period_bounds(period: str, day: date, first: date, last: date) -> None:
    assert period_bounds(period, day) == (first, last)


@pytest.mark.parametrize(("year", "length"), [(2024, 29), (2026, 28), (2000, 29), (2100, 28)])
def test_february_length(year: int, length: int) -> None:
    first, last = period_bounds("monthly", date(year, 2, 14))
    assert (last - first).days + 1 == length


SPAN = days(date(2019, 12, 1), 3000)  # eight years and more, leap days and 53-week years


@pytest.mark.parametrize("period", RECURRING)
def test_index_start_bounds_and_key_agree_day_by_day(period: str) -> None:
    for day in SPAN:
        index = period_index(period, day)
        first, last = period_bounds(period, day)
        assert first == period_start_from_index(period, index) <= day <= last
        assert period_index(period, first) == period_index(period, last) == index
        assert period_key(period, first) == period_key(period, last) == period_key(period, day)
        assert period_index(period, first - ONE_DAY) == index - 1
        assert period_index(period, last + ONE_DAY) == index + 1
        step = period_index(period, day + ONE_DAY) - index
        assert step == int(period_key(period, day + ONE_DAY) != period_key(period, day))
    if period == "weekly":
        assert {
            period_start_from_index(period, period_index(period, d)).weekday() for d in SPAN
        } == {0}


@pytest.mark.parametrize("period", RECURRING)
def test_period_start_from_index_round_trips(period: str) -> None:
    first_index = period_index(period, SPAN[0])
    for index in range(first_index, first_index + 3000):
        assert period_index(period, period_start_from_index(period, index)) == index


@pytest.mark.parametrize(
    ("period", "start", "end", "expected"),
    [
        ("weekly", date(2026, 11, 29), date(2026, 11, 30), 2),  # Sunday to Monday
        ("weekly", date(2026, 11, 23), date(2026, 11, 29), 1),  # Monday to Sunday
        ("weekly", date(2026, 12, 28), date(2027, 1, 3), 1),  # 2026-W53 only
        ("weekly", date(2026, 12, 31), date(2027, 1, 4), 2),
        ("daily", date(2026, 3, 1), date(2026, 3, 31), 31),  # across spring forward
        ("daily", date(2024, 2, 1), date(2024, 3, 1), 30),
        ("daily", date(2026, 6, 15), date(2026, 6, 15), 1),
        ("monthly", date(2026, 1, 31), date(2026, 2, 1), 2),
        ("monthly", date(2026, 12, 15), date(2027, 1, 15), 2),
        ("monthly", date(2026, 1, 1), date(2026, 12, 31), 12),
        ("monthly", date(2026, 6, 15), date(2026, 6, 14), 0),
        ("weekly", date(2026, 6, 15), date(2026, 6, 1), 0),
        ("daily", date(2026, 6, 15), date(2026, 6, 14), 0),
        ("monthly", date(2026, 6, 15), date(2025, 6, 15), 0),
    ],
)
def test_periods_between(period: str, start: date, end: date, expected: int) -> None:
    assert periods_between(period, start, end) == expected


@pytest.mark.parametrize("period", RECURRING)
def test_periods_between_matches_distinct_keys(period: str) -> None:
    rng = random.Random(7)
    for _ in range(200):
        start = rng.choice(SPAN)
        end = start + ONE_DAY * rng.randrange(0, 120)
        keys = {period_key(period, day) for day in days(start, (end - start).days + 1)}
        assert periods_between(period, start, end) == len(keys)


# --- runs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("runs", "index", "expected"),
    [
        ([], 5, [(5, 5)]),
        ([(1, 4), (6, 9)], 5, [(1, 9)]),
        ([(1, 4)], 5, [(1, 5)]),
        ([(6, 9)], 5, [(5, 9)]),
        ([(1, 3), (7, 9)], 5, [(1, 3), (5, 5), (7, 9)]),
        ([(1, 3)], 10, [(1, 3), (10, 10)]),
        ([(10, 12)], 1, [(1, 1), (10, 12)]),
        ([(1, 9)], 5, [(1, 9)]),
        ([(1, 9)], 1, [(1, 9)]),
        ([(1, 9)], 9, [(1, 9)]),
        ([(5, 5)], 5, [(5, 5)]),
        ([(-3, -1)], 0, [(-3, 0)]),
    ],
)
def test_runs_add(runs: list[Run], index: int, expected: list[Run]) -> None:
    before = list(runs)
    assert runs_add(runs, index) == expected
    assert runs == before  # not mutated
    assert runs_add(expected, index) == expected  # idempotent


@pytest.mark.parametrize(
    ("runs", "index", "expected"),
    [
        ([(1, 9)], 5, [(1, 4), (6, 9)]),
        ([(1, 9)], 1, [(2, 9)]),
        ([(1, 9)], 9, [(1, 8)]),
        ([(1, 2)], 1, [(2, 2)]),
        ([(5, 5)], 5, []),
        ([(1, 3), (5, 5), (7, 9)], 5, [(1, 3), (7, 9)]),
        ([(1, 3)], 5, [(1, 3)]),
        ([(1, 3), (5, 7)], 4, [(1, 3), (5, 7)]),
        ([], 5, []),
    ],
)
def test_runs_remove(runs: list[Run], index: int, expected: list[Run]) -> None:
    before = list(runs)
    assert runs_remove(runs, index) == expected
    assert runs == before  # not mutated
    assert runs_remove(expected, index) == expected  # idempotent


@pytest.mark.parametrize("seed", range(40))
def test_runs_match_a_set_model(seed: int) -> None:
    rng = random.Random(seed)
    model: set[int] = set()
    runs: list[Run] = []
    for _ in range(300):
        index = rng.randrange(-5, 60)
        if rng.random() < 0.6:
            model.add(index)
            runs = runs_add(runs, index)
        else:
            model.discard(index)
            runs = runs_remove(runs, index)
        assert runs == runs_of(model)
        assert decode_runs(encode_runs(runs)) == runs  # stays a valid stored shape


# --- streaks -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("runs", "current_index", "current_met", "expected"),
    [
        ([], 10, False, (0, 0)),
        ([], 10, True, (1, 1)),
        # A gap: the streak is the run just before the current period.
        ([(1, 3), (5, 6)], 7, False, (2, 3)),
        ([(1, 3), (5, 6)], 7, True, (3, 3)),
        # The previous period missed: nothing current, the old run is still the longest.
        ([(1, 3)], 5, False, (0, 3)),
        ([(1, 3)], 5, True, (1, 3)),
        # The current period decided by current_met alone.
        ([(1, 7)], 7, False, (6, 6)),
        ([(1, 6)], 7, True, (7, 7)),
        ([(1, 6), (8, 9)], 7, True, (7, 7)),
        ([(1, 6), (8, 9)], 7, False, (6, 6)),
        # Future periods ignored.
        ([(1, 3), (8, 20)], 5, False, (0, 3)),
        ([(1, 10)], 5, True, (5, 5)),
        ([(1, 10)], 5, False, (4, 4)),
        ([(6, 30)], 5, False, (0, 0)),
        # Longest vs current.
        ([(1, 10), (12, 13)], 14, True, (3, 10)),
        ([(1, 10), (12, 13)], 14, False, (2, 10)),
        ([(1, 2), (4, 13)], 14, False, (10, 10)),
    ],
)
def test_streaks(
    runs: list[Run], current_index: int, current_met: bool, expected: tuple[int, int]
) -> None:
    assert streaks(runs, current_index=current_index, current_met=current_met) == expected


def test_backfilled_day_fills_the_gap() -> None:
    runs = [(1, 3), (5, 6)]
    assert streaks(runs, current_index=7, current_met=False) == (2, 3)
    assert streaks(runs_add(runs, 4), current_index=7, current_met=False) == (6, 6)


def test_deleting_an_activity_splits_the_streak() -> None:
    runs = [(1, 6)]
    assert streaks(runs, current_index=7, current_met=True) == (7, 7)
    assert streaks(runs_remove(runs, 4), current_index=7, current_met=True) == (3, 3)
    assert streaks(runs_remove(runs, 4), current_index=7, current_met=False) == (2, 3)


def _brute_force_streaks(met: set[int], current_index: int, current_met: bool) -> tuple[int, int]:
    met = {index for index in met if index < current_index} | (
        {current_index} if current_met else set()
    )
    current, index = 0, current_index if current_met else current_index - 1
    while index in met:
        current, index = current + 1, index - 1
    longest = max((last - first + 1 for first, last in runs_of(met)), default=0)
    return current, longest


@pytest.mark.parametrize("seed", range(40))
def test_streaks_match_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    met = {index for index in range(40) if rng.random() < 0.7}
    for current_index in range(-1, 42):
        for current_met in (False, True):
            result = streaks(runs_of(met), current_index=current_index, current_met=current_met)
            assert result == _brute_force_streaks(met, current_index, current_met)
            assert result[0] <= result[1]


@pytest.mark.parametrize("wall", [time(0, 0), time(1, 30), time(12, 0), time(23, 30), time(23, 59)])
@pytest.mark.parametrize("change", [SPRING_FORWARD, FALL_BACK])
def test_daily_streak_runs_unbroken_across_dst(change: date, wall: time) -> None:
    logged = days(change - ONE_DAY * 7, 15)
    runs: list[Run] = []
    for day in logged:
        counted = local_date(at_local(day, wall, NEW_YORK), NEW_YORK)
        assert counted == day
        runs = runs_add(runs, period_index("daily", counted))
    today = period_index("daily", logged[-1])
    assert runs == [(today - 14, today)]
    assert streaks(runs, current_index=today, current_met=True) == (15, 15)
    assert streaks(runs, current_index=today + 1, current_met=False) == (15, 15)


# --- storage -------------------------------------------------------------------


def test_encode_and_decode_runs() -> None:
    runs: list[Run] = [(1, 3), (5, 5), (700_000, 700_010)]
    assert encode_runs(runs) == [[1, 3], [5, 5], [700_000, 700_010]]
    assert decode_runs(encode_runs(runs)) == runs
    assert encode_runs([]) == []
    assert decode_runs([]) == []


def test_decode_runs_accepts_what_boto3_returns() -> None:
    assert decode_runs([[Decimal("1"), Decimal("3.0")], (Decimal(5), 6)]) == [(1, 3), (5, 6)]


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "[[1, 3]]",
        {"1": 3},
        [[3, 1]],
        [[1, 3], [2, 5]],  # overlapping
        [[5, 6], [1, 2]],  # unsorted
        [[1, 3], [4, 5]],  # adjacent: should have been one run
        [[1, 3], [1, 3]],
        [[1]],
        [[1, 2, 3]],
        ["12"],
        [["1", "2"]],
        [[1.0, 2]],
        [[True, 2]],
        [[Decimal("1.5"), 2]],
        [[Decimal("NaN"), 2]],
        [[Decimal("Infinity"), 2]],
    ],
)
def test_decode_runs_rejects_bad_shapes(raw: object) -> None:
    with pytest.raises(ValueError, match="run"):
        decode_runs(raw)
