"""Many clients writing to one goal at once, over real HTTP: the app served
by a live server thread (a thread per request), moto's server behind it.

Every write to a goal moves its activity and its aggregates in one
transaction guarded by the progress item's version; a writer that loses
the race reads again. Afterwards the totals, buckets and streak runs must
be exactly what the activities add up to (the consistency checker finds
nothing), every acknowledged write must be stored as acknowledged and
every acknowledged delete gone. Each thread works on its own activities
(as each phone does on the ones it logged), so what it was told is what
must be stored, whatever the interleaving.

moto as shipped is not a faithful DynamoDB under concurrent requests (a
cancelled transaction puts back a copy of the whole table, wiping other
requests' writes); our moto server (``lifestyle/local_aws.py``) handles one
request at a time and undoes only a cancelled transaction's own items, as
DynamoDB does. Requests still arrive concurrently and interleave between a
write's read and its commit exactly as against DynamoDB, which is what the
optimistic locking is about. The tests run on a table of their own, with
no per-user rate limit in the way of one user's burst.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from django.test.utils import override_settings

from activities import consistency
from lifestyle.aws import client
from lifestyle.provisioning import ensure_table
from tests.conftest import User
from tests.lifestyle.test_data_migrations import api_on

THREADS = 8
OPERATIONS = 10  # per thread
BUSY_RETRIES = 10
# The per-user limits (lifestyle/ratelimit.py) would refuse a burst this size
# from one user, which is their job; this test is about the writes.
NO_LIMITS = {"read": (100_000, 60), "write": (100_000, 60), "export": (100, 3600)}
NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.date()


class Client:
    """One device: its own HTTP session, retrying a 503 as the docs say."""

    def __init__(self, base: str, token: str) -> None:
        self.base = f"{base}/api/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        for attempt in range(BUSY_RETRIES):
            response = self.session.request(method, f"{self.base}{path}", timeout=30, **kwargs)
            if response.status_code != 503:
                return response
            time.sleep(min(float(response.headers.get("Retry-After", "1")), 0.05 * 2**attempt))
        return response


@dataclass
class Device:
    """What one thread was told: its activities as acknowledged, and the
    ones it deleted."""

    client: Client
    goal_id: str
    rng: random.Random
    live: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> activity, with etag
    deleted: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)

    def moment(self) -> str:
        offset = timedelta(days=self.rng.randrange(0, 9), minutes=self.rng.randrange(0, 1440))
        return (NOW - offset).isoformat()

    def log(self) -> None:
        activity_id = str(uuid.uuid4())
        body = {"id": activity_id, "value": self.rng.randrange(1, 5), "occurred_at": self.moment()}
        response = self.client.call("POST", f"/goals/{self.goal_id}/activities", json=body)
        self.acknowledge(response, 201)

    def edit(self) -> None:
        activity = self.live[self.rng.choice(sorted(self.live))]
        changes: dict[str, Any] = {"value": self.rng.randrange(1, 5)}
        if self.rng.random() < 0.5:
            changes["occurred_at"] = self.moment()  # often into another day
        response = self.client.call(
            "PATCH",
            f"/activities/{activity['id']}",
            json=changes,
            headers={"If-Match": activity["etag"]},
        )
        self.acknowledge(response, 200)

    def delete(self) -> None:
        activity_id = self.rng.choice(sorted(self.live))
        response = self.client.call("DELETE", f"/activities/{activity_id}")
        if response.status_code != 204:
            self.failures.append(f"DELETE {response.status_code} {response.text}")
            return
        del self.live[activity_id]
        self.deleted.add(activity_id)

    def acknowledge(self, response: requests.Response, status: int) -> None:
        if response.status_code != status:
            self.failures.append(
                f"{response.request.method} {response.status_code} {response.text}"
            )
            return
        activity = response.json()
        self.live[activity["id"]] = {**activity, "etag": response.headers["ETag"]}

    def run(self, start: threading.Barrier) -> None:
        start.wait()
        for _ in range(OPERATIONS):
            roll = self.rng.random()
            if not self.live or roll < 0.5:
                self.log()
            elif roll < 0.8:
                self.edit()
            else:
                self.delete()


@pytest.fixture
def own_table() -> Iterator[str]:
    """A table of the test's own, the app (and the live server) on it, and
    no per-user rate limit in the way of a burst from one user."""
    name = f"concurrency-test-{uuid.uuid4().hex[:8]}"
    ensure_table(name, lambda line: None)
    with api_on(name), override_settings(RATE_LIMITS=NO_LIMITS):
        yield name
    client("dynamodb").delete_table(TableName=name)


@pytest.mark.usefixtures("own_table")
def test_many_writers_on_one_goal_keep_its_aggregates_exact(live_url: str, user: User) -> None:
    setup = Client(live_url, user.access_token)
    goal = setup.call(
        "POST",
        "/goals",
        json={
            "title": "Push-ups",
            "kind": "count",
            "target": "6",
            "period": "daily",
            "timezone": "Europe/Lisbon",
            "start_date": (TODAY - timedelta(days=30)).isoformat(),
        },
    )
    assert goal.status_code == 201, goal.text
    goal_id = goal.json()["id"]
    devices = [
        Device(Client(live_url, user.access_token), goal_id, random.Random(seed))
        for seed in range(THREADS)
    ]
    start = threading.Barrier(THREADS)
    threads = [threading.Thread(target=device.run, args=(start,)) for device in devices]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not any(thread.is_alive() for thread in threads)
    assert [failure for device in devices for failure in device.failures] == []
    assert consistency.check_goal(user.user_id, goal_id) == []

    expected = {a_id: a for device in devices for a_id, a in device.live.items()}
    deleted = {a_id for device in devices for a_id in device.deleted}
    assert len(expected) + len(deleted) > THREADS * OPERATIONS // 3
    stored = listed(setup, goal_id)
    assert set(stored) == set(expected)
    for activity_id, activity in expected.items():
        assert stored[activity_id]["value"] == activity["value"], activity_id
        assert stored[activity_id]["occurred_at"] == activity["occurred_at"], activity_id
        assert stored[activity_id]["version"] == activity["version"], activity_id
    for activity_id in deleted:
        assert setup.call("GET", f"/activities/{activity_id}").status_code == 404

    progress = setup.call("GET", f"/goals/{goal_id}/progress").json()
    assert Decimal(progress["total"]) == sum(Decimal(a["value"]) for a in expected.values())
    assert progress["activity_count"] == len(expected)
    assert progress["last_activity_at"] == max(
        (a["occurred_at"] for a in expected.values()),
        key=datetime.fromisoformat,
    )
    per_day: dict[str, Decimal] = {}
    for activity in expected.values():
        day = activity["local_date"]
        per_day[day] = per_day.get(day, Decimal(0)) + Decimal(activity["value"])
    today = progress["current_period"]
    assert Decimal(today["value"]) == per_day.get(today["key"], Decimal(0))
    assert progress["current_streak"] == streak_from(per_day, today["key"], Decimal(6))


def listed(client: Client, goal_id: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = client.call("GET", f"/goals/{goal_id}/activities", params=params).json()
        found.update({item["id"]: item for item in page["items"]})
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def streak_from(per_day: dict[str, Decimal], today: str, target: Decimal) -> int:
    """Consecutive met days ending today (or yesterday, while today is not
    met yet), counted from the activities the devices were told about."""
    day = datetime.fromisoformat(today).date()
    if per_day.get(today, Decimal(0)) < target:
        day -= timedelta(days=1)
    streak = 0
    while per_day.get(day.isoformat(), Decimal(0)) >= target:
        streak += 1
        day -= timedelta(days=1)
    return streak


def patch_goal(
    editor: Client,
    goal_id: str,
    title: str,
    etag: str,
    start: threading.Barrier,
    answers: list[requests.Response],
) -> None:
    start.wait()  # both requests leave together
    answers.append(
        editor.call("PATCH", f"/goals/{goal_id}", json={"title": title}, headers={"If-Match": etag})
    )


@pytest.mark.usefixtures("own_table")
def test_two_patches_with_one_etag_exactly_one_wins(live_url: str, user: User) -> None:
    client = Client(live_url, user.access_token)
    created = client.call("POST", "/goals", json={"title": "Read", "kind": "habit"})
    assert created.status_code == 201, created.text
    goal_id = created.json()["id"]
    etag = created.headers["ETag"]
    editors = [Client(live_url, user.access_token) for _ in range(2)]

    for round_number in range(5):
        start = threading.Barrier(2)
        answers: list[requests.Response] = []
        titles = [f"Read {round_number}-{n}" for n in range(2)]
        threads = [
            threading.Thread(target=patch_goal, args=(e, goal_id, t, etag, start, answers))
            for e, t in zip(editors, titles, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

        assert sorted(a.status_code for a in answers) == [200, 412], [a.text for a in answers]
        winner = next(a for a in answers if a.status_code == 200)
        loser = next(a for a in answers if a.status_code == 412)
        assert loser.json()["error"]["code"] == "precondition_failed"
        stored = client.call("GET", f"/goals/{goal_id}")
        assert stored.json()["title"] == winner.json()["title"]
        assert stored.headers["ETag"] == winner.headers["ETag"] != etag
        etag = winner.headers["ETag"]
