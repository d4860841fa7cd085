"""The profile's calendar through goals, activities and progress: new goals
take the profile's timezone, week start and day-start hour; activities count
for the day that hour draws; a later profile change leaves existing goals
(and so every logged activity) as they were."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from rest_framework.test import APIClient

from activities import periods
from tests.conftest import DynamoCalls

ME = "/api/v1/me"
GOALS = "/api/v1/goals"
# Sunday 29 November 2026, 02:30 in New York (EST, UTC-5).
NIGHT = datetime(2026, 11, 29, 7, 30, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The server's 'now', settable by the test."""
    now = [NIGHT]
    for module in ("goals.services", "activities.services", "activities.selectors"):
        monkeypatch.setattr(f"{module}.utcnow", lambda: now[0])
    return now


@pytest.fixture
def night_owl(api: APIClient) -> dict[str, Any]:
    response = api.patch(
        ME,
        {"timezone": "America/New_York", "day_start_hour": 4, "week_start": "sunday"},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()


def create(api: APIClient, **fields: Any) -> dict[str, Any]:
    response = api.post(GOALS, {"title": "Meditate", "kind": "habit", **fields}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def log(api: APIClient, goal_id: str, occurred_at: str, **fields: Any) -> dict[str, Any]:
    response = api.post(
        f"{GOALS}/{goal_id}/activities", {"occurred_at": occurred_at, **fields}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def progress(api: APIClient, goal_id: str) -> dict[str, Any]:
    response = api.get(f"{GOALS}/{goal_id}/progress")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_new_goal_takes_the_profiles_calendar_reading_it_once(
    api: APIClient, night_owl: dict[str, Any], clock: list[datetime], dynamo_calls: DynamoCalls
) -> None:
    dynamo_calls.reset()
    goal = create(api, period="daily")
    assert dynamo_calls() == {"GetItem": 1, "PutItem": 1}
    assert (goal["timezone"], goal["week_start"], goal["day_start_hour"]) == (
        "America/New_York", "sunday", 4,
    )  # fmt: skip
    # 02:30 on Sunday is still Saturday for a day that starts at 04:00.
    assert goal["start_date"] == "2026-11-28"


def test_a_create_naming_its_calendar_does_not_read_the_profile(
    api: APIClient, night_owl: dict[str, Any], dynamo_calls: DynamoCalls
) -> None:
    dynamo_calls.reset()
    goal = create(api, timezone="Asia/Tokyo", week_start="monday", day_start_hour=0)
    assert dynamo_calls() == {"PutItem": 1}
    assert (goal["timezone"], goal["week_start"], goal["day_start_hour"]) == (
        "Asia/Tokyo", "monday", 0,
    )  # fmt: skip


def test_activities_before_the_day_start_hour_count_for_the_day_before(
    api: APIClient, night_owl: dict[str, Any], clock: list[datetime]
) -> None:
    goal = create(api, period="daily", start_date="2026-11-27")
    late = log(api, goal["id"], "2026-11-29T02:30:00-05:00")
    assert late["local_date"] == "2026-11-28"
    now = progress(api, goal["id"])
    assert now["current_period"]["key"] == "2026-11-28"
    assert now["current_period"]["met"] is True
    assert now["current_streak"] == 1

    clock[0] = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)  # 05:00 in New York: Sunday now
    fresh = progress(api, goal["id"])
    assert fresh["current_period"]["key"] == "2026-11-29"
    assert fresh["current_period"]["met"] is False
    assert fresh["current_streak"] == 1  # the day in progress does not break it yet
    assert log(api, goal["id"], "2026-11-29T04:00:00-05:00")["local_date"] == "2026-11-29"
    assert progress(api, goal["id"])["current_streak"] == 2


def test_weeks_start_on_the_profiles_day(
    api: APIClient, night_owl: dict[str, Any], clock: list[datetime]
) -> None:
    clock[0] = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)  # Sunday 10:00 in New York
    goal = create(api, period="weekly", kind="count", target=2)
    assert goal["start_date"] == "2026-11-29"
    week = progress(api, goal["id"])["current_period"]
    assert (week["start"], week["end"]) == ("2026-11-29", "2026-12-05")
    log(api, goal["id"], "2026-11-29T09:00:00-05:00", value=1)
    # Saturday 5 December, 03:00: still Friday's day, and the same week.
    clock[0] = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
    late = log(api, goal["id"], "2026-12-05T03:00:00-05:00", value=1)
    assert late["local_date"] == "2026-12-04"
    current = progress(api, goal["id"])
    assert current["current_period"]["value"] == "2"
    assert current["current_period"]["met"] is True
    assert current["current_streak"] == 1


def test_a_profile_change_applies_to_new_goals_only(
    api: APIClient, night_owl: dict[str, Any], clock: list[datetime]
) -> None:
    old = create(api, period="daily", start_date="2026-11-27")
    logged = log(api, old["id"], "2026-11-29T02:30:00-05:00")
    assert api.patch(ME, {"timezone": "UTC", "day_start_hour": 0}, format="json").status_code == 200

    kept = api.get(f"{GOALS}/{old['id']}").json()
    assert (kept["timezone"], kept["day_start_hour"]) == ("America/New_York", 4)
    again = api.get(f"/api/v1/activities/{logged['id']}").json()
    assert again["local_date"] == "2026-11-28"
    assert log(api, old["id"], "2026-11-29T03:00:00-05:00")["local_date"] == "2026-11-28"

    new = create(api, period="daily")
    assert (new["timezone"], new["day_start_hour"], new["week_start"]) == ("UTC", 0, "sunday")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"day_start_hour": 7}, "day_start_hour"),
        ({"day_start_hour": "4"}, "day_start_hour"),
        ({"week_start": "friday"}, "week_start"),
        ({"week_start": None}, "week_start"),
    ],
)
def test_a_bad_calendar_on_create_is_refused(
    api: APIClient, dynamo_calls: DynamoCalls, body: dict[str, Any], field: str
) -> None:
    response = api.post(GOALS, {"title": "x", "kind": "habit", **body}, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert dynamo_calls() == {}


def test_the_calendar_of_a_goal_cannot_be_changed(api: APIClient) -> None:
    goal = create(api)
    for field, value in (("week_start", "sunday"), ("day_start_hour", 3)):
        response = api.patch(
            f"{GOALS}/{goal['id']}", {field: value}, format="json", HTTP_IF_MATCH='"1"'
        )
        assert response.status_code == 400
        assert response.json()["error"]["fields"][field] == ["This field is read-only."]


@pytest.mark.parametrize(("week_start", "first"), [(0, 30), (6, 29), (5, 28)])
def test_week_arithmetic_for_each_start_day(week_start: int, first: int) -> None:
    """Monday-, Sunday- and Saturday-started weeks around the end of 2026:
    keys, indexes and bounds agree, and consecutive weeks have consecutive
    indexes."""
    start = date(2026, 11, first)
    assert periods.period_bounds("weekly", start, week_start=week_start) == (
        start, date(2026, 12, first + 6 - 30),
    )  # fmt: skip
    days = [date.fromordinal(start.toordinal() + n) for n in range(21)]
    keys = [periods.period_key("weekly", day, week_start=week_start) for day in days]
    indexes = [periods.period_index("weekly", day, week_start=week_start) for day in days]
    assert len(set(keys)) == len(set(indexes)) == 3
    assert [indexes[n * 7] for n in range(3)] == [indexes[0] + n for n in range(3)]
    for n in range(3):
        week = days[n * 7 : n * 7 + 7]
        assert len({periods.period_key("weekly", d, week_start=week_start) for d in week}) == 1
        assert (
            periods.period_start_from_index("weekly", indexes[n * 7], week_start=week_start)
            == week[0]
        )
    assert periods.periods_between("weekly", days[0], days[-1], week_start=week_start) == 3
