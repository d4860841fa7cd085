"""Item 4: does a goal's progress or its list of activities cost more as its
history grows? Budget: with 10,000 activities, within 1.1x of the same goal
with 10, and the same number of DynamoDB round trips.

In a child process (in-process moto, our app behind Zappa's Lambda
handler), one user per size gets a weekly goal created through the API and
then 10, 1,000 or 10,000 activities written straight to the table (25 to a
BatchWriteItem: seeding, not the path under test), one every few minutes
back from now. ``activities.consistency.repair_goal`` (what ``manage.py
check_consistency --repair`` runs) then replays them into the goal's
progress item and period buckets, and the child checks through the API
that the progress reports what was seeded, so a broken seed fails loudly.

Then, per size, ``GET /goals/{id}/progress`` and ``GET
/goals/{id}/activities`` (first page) are measured:

(i)   **round trips**: the DynamoDB calls one request makes, the rate-limit
      counter and the revocation list apart, and the bytes DynamoDB
      answered them with (recorded once, after warming up);
(ii)  **our code's latency**: each size's recorded answers replayed below
      botocore (``harness.Canned``), requests interleaved size by size so
      machine noise hits all alike: p50 at 10,000 against p50 at 10;
(iii) for information, p50 with moto answering. moto's Query on an index
      reads every item in the table for every page, so its figure grows
      with the data where DynamoDB's (which reads only the page) does not:
      a measure of moto, not of us.

The list is budgeted on pages of 10 (``?limit=10``), which every size fills,
so that the 10-activity goal's page is not a smaller one. The default page
of 20 is reported too, 10,000 against 1,000 (both full pages).

    .venv/bin/python -m bench.growth [--quick] [--requests 500]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

from bench import harness
from bench.processes import run_child
from bench.results import Row, markdown

SECTION = "Growth with history"
SIZES = (10, 1_000, 10_000)
SPACING = timedelta(minutes=4)  # 10,000 activities: about four weeks
TIMEZONE = "Europe/Paris"
# Every goal starts on the same day, before the oldest seeded activity, so
# that its pace and streak figures are computed alike whatever its size.
START_DAYS_AGO = 35
NOTES = ("morning walk along the river", "Café ☕ then 3 km", "走った — 30 min", "")
WARM_UP = 10
# The list is budgeted on a page every size fills; "list_default" is the
# app's default page of 20 (only 10 items at 10 activities).
ENDPOINTS = ("progress", "list", "list_default")
BUDGETED = ("progress", "list")
RATIO_BUDGET = 1.1
Event = dict[str, Any]


def _goal_body() -> dict[str, Any]:
    today = datetime.now(ZoneInfo(TIMEZONE)).date()
    return {
        "title": "Run 100 km a week",
        "kind": "amount",
        "target": "100",
        "period": "weekly",
        "timezone": TIMEZONE,
        "week_start": "monday",
        "day_start_hour": 0,
        "start_date": (today - timedelta(days=START_DAYS_AGO)).isoformat(),
    }


def _send(lambda_event: Event) -> dict[str, Any]:
    """One request through Zappa's handler; anything but a 2xx stops the run."""
    response = harness.invoke(lambda_event)
    if response["statusCode"] >= 300:
        raise SystemExit(
            f"{lambda_event['httpMethod']} {lambda_event['path']}: "
            f"{response['statusCode']} {response.get('body')}"
        )
    return response


# --- Seeding (child) ----------------------------------------------------------


@dataclass
class Seeded:
    """What was written, to check the API's progress against."""

    count: int
    total: Decimal
    by_period: dict[str, Decimal]


def seed(user_id: str, goal_id: str, size: int) -> Seeded:
    """``size`` activities on the goal, written straight to the table, then
    the goal's aggregates replayed from them by the consistency repair."""
    from activities import consistency
    from activities.models import Activity, activity_sk
    from goals.models import Goal
    from lifestyle.dynamo import goal_sk, user_pk
    from lifestyle.ids import new_ulid

    pk = user_pk(user_id)
    goal = Goal.get(pk, goal_sk(goal_id), consistent_read=True)
    newest = datetime.now(UTC) - timedelta(seconds=1)
    seeded = Seeded(size, Decimal(0), defaultdict(Decimal))
    with Activity.batch_write() as batch:
        for number in range(size):
            activity_id = new_ulid()
            moment = newest - SPACING * number
            day = goal.local_date(moment)
            value = Decimal(number % 7 + 1)
            seeded.total += value
            seeded.by_period[goal.period_key(day)] += value
            activity = Activity(
                pk,
                activity_sk(activity_id),
                activity_id=activity_id,
                user_id=user_id,
                goal_id=goal_id,
                value=value,
                occurred_at=moment,
                local_date=day.isoformat(),
                period_key=goal.period_key(day),
                note=NOTES[number % len(NOTES)],
                version=1,
            )
            activity.place_in_time()
            batch.save(activity)
    # moto's Query costs in proportion to the whole partition per page, so
    # the repair reads its 10,000 activities in pages of 2,000, not 200.
    with mock.patch.object(consistency, "PAGE_SIZE", 2000):
        repaired = consistency.repair_goal(user_id, goal_id)
    if repaired.outcome != consistency.REPAIRED:
        raise SystemExit(f"size {size}: the repair said {repaired.outcome!r}")
    return seeded


def _check_progress(lambda_event: Event, seeded: Seeded) -> None:
    """The API's progress is what was seeded: the whole goal's total and
    count, and the current week's total."""
    progress = harness.body_of(_send(lambda_event))
    week = progress["current_period"]
    found = (progress["activity_count"], Decimal(progress["total"]), Decimal(week["value"]))
    expected = (seeded.count, seeded.total, seeded.by_period.get(week["key"], Decimal(0)))
    if found != expected:
        raise SystemExit(
            f"{seeded.count} seeded: progress says (count, total, this week) {found}, "
            f"not {expected}"
        )


# --- Measuring (child) --------------------------------------------------------


def _bookkeeping(call: harness.Call) -> bool:
    """The rate-limit counter and the revocation list, apart from the data."""
    key = call.params.get("Key", {}).get("pk", {}).get("S", "")
    return str(key).startswith("RATE#") or key == "REVOCATIONS"


def _interleaved(
    events: dict[int, Event],
    requests: int,
    before_each: Callable[[int], None] = lambda size: None,
) -> dict[int, list[float]]:
    """``requests`` timings per size, one size after another in turn (the
    order reversed every other round, so no size always follows another)."""
    timings: dict[int, list[float]] = {size: [] for size in events}
    sizes = list(events)
    for number in range(WARM_UP + requests):
        for size in sizes if number % 2 else reversed(sizes):
            before_each(size)
            elapsed = harness.timed(partial(_send, events[size]))
            if number >= WARM_UP:
                timings[size].append(elapsed)
    return timings


class _Replay:
    """A size's recorded answers, with the rate-limit counter answered
    whatever its window: the counter's key names the current minute, so
    the recorded key stops matching when the clock crosses into the next."""

    def __init__(self, calls: list[harness.Call]) -> None:
        self.canned = harness.Canned(calls)
        self.rate = next((call for call in calls if _rate_counter(call)), None)

    def answer(self, request: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        params = json.loads(request.body or b"{}")
        if self.rate is not None and request.headers.get("X-Amz-Target", b"").endswith(
            b"UpdateItem"
        ):
            pk = params.get("Key", {}).get("pk", {}).get("S", "")
            if str(pk).startswith("RATE#"):
                rate = self.rate
                return AWSResponse(request.url, rate.status, rate.headers, _Body(rate.body))
        return self.canned.answer(request)


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data

    def read(self, *_: Any) -> bytes:
        data, self._data = self._data, b""
        return data


def _rate_counter(call: harness.Call) -> bool:
    pk = call.params.get("Key", {}).get("pk", {}).get("S", "")
    return call.operation == "UpdateItem" and str(pk).startswith("RATE#")


def child(requests: int, moto_requests: int, sizes: tuple[int, ...]) -> dict[str, Any]:
    events: dict[str, dict[int, Event]] = {endpoint: {} for endpoint in ENDPOINTS}
    seeding: dict[int, float] = {}
    with harness.quiet() as report:
        stack = harness.start()
        for size in sizes:
            user_id, token = stack.user(f"growth{size}")
            created = _send(harness.event("POST", "/api/v1/goals", token, _goal_body()))
            goal_id = harness.body_of(created)["id"]
            began = time.perf_counter()
            seeded = seed(user_id, goal_id, size)
            seeding[size] = time.perf_counter() - began
            print(f"growth: {size} activities seeded in {seeding[size]:.1f} s", file=report)
            path = f"/api/v1/goals/{goal_id}"
            events["progress"][size] = harness.event("GET", f"{path}/progress", token)
            events["list"][size] = harness.event(
                "GET", f"{path}/activities", token, query={"limit": "10"}
            )
            events["list_default"][size] = harness.event("GET", f"{path}/activities", token)
            _check_progress(events["progress"][size], seeded)
            page = harness.body_of(_send(events["list"][size]))
            if len(page["items"]) != 10:
                raise SystemExit(f"size {size}: a page of {len(page['items'])}, not 10")

        recorded: dict[str, dict[int, list[harness.Call]]] = {e: {} for e in ENDPOINTS}
        for endpoint in ENDPOINTS:
            for size in sizes:
                for _ in range(3):  # the token's keys, the revocation list: loaded by now
                    _send(events[endpoint][size])
                with harness.recording() as calls:
                    _send(events[endpoint][size])
                recorded[endpoint][size] = calls

        moto: dict[str, dict[int, list[float]]] = {}
        for endpoint in ENDPOINTS:
            print(f"growth: {endpoint}, moto in-process...", file=report)
            moto[endpoint] = _interleaved(events[endpoint], moto_requests)

        stack.stop_moto()
        canned: dict[str, dict[int, list[float]]] = {}
        current: dict[str, _Replay] = {}
        with harness.canned_dynamo(lambda request: current["now"].answer(request)):
            for endpoint in ENDPOINTS:
                print(f"growth: {endpoint}, canned DynamoDB...", file=report)
                replays = {size: _Replay(calls) for size, calls in recorded[endpoint].items()}

                def switch(size: int, replays: dict[int, _Replay] = replays) -> None:
                    current["now"] = replays[size]
                    replays[size].canned.next_request()

                canned[endpoint] = _interleaved(events[endpoint], requests, switch)

    def summary(calls: list[harness.Call]) -> dict[str, Any]:
        data = [call for call in calls if not _bookkeeping(call)]
        return {
            "data": [call.operation for call in data],
            "bookkeeping": [call.operation for call in calls if _bookkeeping(call)],
            "bytes": sum(len(call.body) for call in data),
        }

    return {
        "seeding": seeding,
        "moto": moto,
        "canned": canned,
        "calls": {
            endpoint: {size: summary(calls) for size, calls in by_size.items()}
            for endpoint, by_size in recorded.items()
        },
    }


# --- The parent ---------------------------------------------------------------


def _child(requests: int, moto_requests: int, sizes: tuple[int, ...]) -> dict[str, Any]:
    found: dict[str, Any] = run_child(
        "growth",
        "--child",
        "--requests",
        str(requests),
        "--moto-requests",
        str(moto_requests),
        "--sizes",
        ",".join(str(size) for size in sizes),
    )
    return found


def run(
    quick: bool,
    requests: int | None = None,
    moto_requests: int | None = None,
    sizes: tuple[int, ...] = SIZES,
) -> list[Row]:
    """The figures; ``sizes`` (three, smallest first, each at least 10) is
    for a smoke test's sake."""
    count = requests or (50 if quick else 500)
    moto_count = moto_requests or (5 if quick else 50)
    return rows(_child(count, moto_count, sizes), count, moto_count)


# moto ends a Query that reads the last item without a LastEvaluatedKey, so
# the 10-activity goal's page of 10 has no cursor to sign; DynamoDB, which
# stops at the Limit, would return one there too.
CURSOR_NOTE = {"list": "; at 10 no cursor (moto: the page ends the history)"}
LABELS = {
    "progress": "progress",
    "list": "list activities (page of 10)",
    "list_default": "list activities (default page of 20)",
}


def rows(found: dict[str, Any], count: int, moto_count: int) -> list[Row]:
    small, middle, large = sorted(found["seeding"], key=int)
    p50 = harness.p50
    result: list[Row] = []
    for endpoint in ENDPOINTS:
        calls = found["calls"][endpoint]
        names = {size: calls[size]["data"] for size in calls}
        same = len({tuple(n) for n in names.values()}) == 1
        bookkeeping = " + ".join(calls[large]["bookkeeping"]) or "nothing"
        result.append(
            Row(
                SECTION,
                f"{LABELS[endpoint]} round trips at {int(large):,}",
                len(names[large]),
                "calls",
                baseline=len(names[small]),
                baseline_name=f"at {int(small):,}",
                budget="same at 10k as at 10",
                passed=same,
                note=f"{' + '.join(names[large])} at every size: {same}; "
                f"apart: {bookkeeping} (rate limit, revocations)",
            )
        )
        result.append(
            Row(
                SECTION,
                f"{LABELS[endpoint]} bytes from DynamoDB at {int(large):,}",
                calls[large]["bytes"],
                "bytes",
                baseline=calls[small]["bytes"],
                baseline_name=f"at {int(small):,}",
                note=f"{calls[middle]['bytes']:,} at {int(middle):,}",
            )
        )
    for endpoint in ENDPOINTS:
        canned = {size: p50(values) for size, values in found["canned"][endpoint].items()}
        if endpoint in BUDGETED:
            result.append(
                Row(
                    SECTION,
                    f"{LABELS[endpoint]} p50 at {int(large):,}, canned DynamoDB",
                    canned[large],
                    "ms",
                    baseline=canned[small],
                    baseline_name=f"at {int(small):,}",
                    budget=f"<= {RATIO_BUDGET}x",
                    passed=canned[large] / canned[small] <= RATIO_BUDGET,
                    note=f"{canned[middle]:.2f} ms at {int(middle):,}; {count} each, interleaved"
                    + CURSOR_NOTE.get(endpoint, ""),
                )
            )
        else:  # pages of 20 at 1,000 and 10,000 only: compared with 1,000
            result.append(
                Row(
                    SECTION,
                    f"{LABELS[endpoint]} p50 at {int(large):,}, canned DynamoDB",
                    canned[large],
                    "ms",
                    baseline=canned[middle],
                    baseline_name=f"at {int(middle):,}",
                    note=f"{canned[small]:.2f} ms at {int(small):,}, whose page holds 10; "
                    f"{count} each, interleaved",
                )
            )
    moto_notes = {
        "progress": "GetItem and BatchGetItem, which moto answers from a dict",
        "list": "moto's Query on an index reads every item in the table (here over "
        f"{sum(int(size) for size in found['seeding']):,} activities) for each page, "
        "DynamoDB only the page",
    }
    for endpoint in BUDGETED:
        moto = {size: p50(values) for size, values in found["moto"][endpoint].items()}
        result.append(
            Row(
                SECTION,
                f"{LABELS[endpoint]} p50 at {int(large):,}, moto in-process",
                moto[large],
                "ms",
                baseline=moto[small],
                baseline_name=f"at {int(small):,}",
                note=f"{moto[middle]:.2f} ms at {int(middle):,}; {moto_count} each; "
                + moto_notes[endpoint],
            )
        )
    seeding = found["seeding"][large]
    result.append(
        Row(
            SECTION,
            f"seeding {int(large):,} activities and repairing the aggregates",
            seeding,
            "s",
            note="BatchWriteItem, then consistency.repair_goal, moto in-process",
        )
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 requests a size, not 500")
    parser.add_argument("--requests", type=int, help="canned requests per size and endpoint")
    parser.add_argument("--moto-requests", type=int, help="moto-answered requests per size")
    parser.add_argument("--sizes", help="three history lengths, e.g. 10,1000,10000")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    sizes = tuple(int(size) for size in options.sizes.split(",")) if options.sizes else SIZES
    if len(sizes) != len(SIZES) or sorted(sizes) != list(sizes) or sizes[0] < 10:
        parser.error("--sizes: three, smallest first, each at least 10")
    if options.child:
        print(json.dumps(child(options.requests, options.moto_requests, sizes)))
        return 0
    found = run(options.quick, options.requests, options.moto_requests, sizes)
    print(markdown(found, heading="## Growth with history"))
    return 0 if all(row.passed is not False for row in found) else 1


if __name__ == "__main__":
    raise SystemExit(main())
