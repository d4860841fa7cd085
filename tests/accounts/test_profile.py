"""GET/PATCH /api/v1/me, through HTTP and into the table."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import PROFILE_SK, Profile
from lifestyle.dynamo import user_pk
from tests.conftest import DynamoCalls, User, assert_error

URL = "/api/v1/me"


def test_a_new_user_sees_the_defaults_and_nothing_is_stored(api: APIClient, user: User) -> None:
    response = api.get(URL)
    assert response.status_code == 200
    assert response.json() == {
        "display_name": "",
        "timezone": "UTC",
        "week_start": "monday",
        "day_start_hour": 0,
        "units": "metric",
        "created_at": None,
        "updated_at": None,
        "version": 0,
    }
    assert response["ETag"] == '"0"'
    with pytest.raises(Profile.DoesNotExist):
        Profile.get(user_pk(user.user_id), PROFILE_SK)


def test_patch_creates_then_changes_the_profile(
    api: APIClient, user: User, dynamo_calls: DynamoCalls
) -> None:
    dynamo_calls.reset()
    created = api.patch(
        URL,
        {"display_name": "Zoë 🏃", "timezone": "Asia/Kolkata", "day_start_hour": 4},
        format="json",
    )
    assert created.status_code == 200, created.content
    assert dynamo_calls() == {"UpdateItem": 1}
    body = created.json()
    assert body["display_name"] == "Zoë 🏃"
    assert body["timezone"] == "Asia/Kolkata"
    assert body["day_start_hour"] == 4
    assert body["version"] == 1
    assert body["created_at"] == body["updated_at"]

    changed = api.patch(
        URL, {"units": "imperial", "week_start": "sunday"}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert changed.status_code == 200, changed.content
    stored = Profile.get(user_pk(user.user_id), PROFILE_SK)
    assert (stored.display_name, stored.timezone, stored.units, stored.week_start) == (
        "Zoë 🏃", "Asia/Kolkata", "imperial", "sunday",
    )  # fmt: skip
    assert stored.version == 2
    assert changed.json()["created_at"] == body["created_at"]
    assert api.get(URL).json() == changed.json()


def test_a_stale_etag_is_refused_and_nothing_changes(api: APIClient) -> None:
    api.patch(URL, {"display_name": "first"}, format="json")
    stale = api.patch(URL, {"display_name": "second"}, format="json", HTTP_IF_MATCH='"0"')
    assert_error(stale, 412, "precondition_failed")
    assert api.get(URL).json()["display_name"] == "first"


def test_if_match_zero_saves_only_a_profile_never_saved(api: APIClient) -> None:
    assert (
        api.patch(URL, {"units": "imperial"}, format="json", HTTP_IF_MATCH='"0"').status_code == 200
    )
    assert_error(
        api.patch(URL, {"units": "metric"}, format="json", HTTP_IF_MATCH='"0"'),
        412,
        "precondition_failed",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "localtime"}, "timezone"),
        ({"timezone": 5}, "timezone"),
        ({"day_start_hour": 7}, "day_start_hour"),
        ({"day_start_hour": -1}, "day_start_hour"),
        ({"day_start_hour": "3"}, "day_start_hour"),
        ({"day_start_hour": 3.0}, "day_start_hour"),
        ({"day_start_hour": True}, "day_start_hour"),
        ({"week_start": "wednesday"}, "week_start"),
        ({"units": "furlongs"}, "units"),
        ({"display_name": "x" * 101}, "display_name"),
        ({"display_name": None}, "display_name"),
        ({"version": 3}, "version"),
        ({"created_at": "2026-01-01T00:00:00Z"}, "created_at"),
        ({"email": "a@example.com"}, "email"),
    ],
)
def test_bad_fields_are_refused_and_nothing_is_saved(
    api: APIClient, user: User, body: dict[str, Any], field: str
) -> None:
    assert_error(api.patch(URL, body, format="json"), 400, "validation_error", field)
    with pytest.raises(Profile.DoesNotExist):
        Profile.get(user_pk(user.user_id), PROFILE_SK)


def test_an_empty_or_non_object_body_is_refused(api: APIClient) -> None:
    assert_error(api.patch(URL, {}, format="json"), 400, "validation_error")
    assert api.patch(URL, [1, 2], format="json").status_code == 400
    assert api.patch(URL, "text", format="json").status_code == 400


def test_each_user_has_their_own_profile(api: APIClient, other_user: User) -> None:
    api.patch(URL, {"display_name": "mine"}, format="json")
    assert other_user.client().get(URL).json()["display_name"] == ""


def test_anonymous_and_forged_tokens_are_refused(anonymous: APIClient, user: User) -> None:
    assert anonymous.get(URL).status_code == 401
    assert anonymous.patch(URL, {"units": "imperial"}, format="json").status_code == 401
    assert user.client(token=user.access_token[:-4] + "AAAA").get(URL).status_code == 401
