"""Items 2 and 3: warm latency of the runbook's eight operations, and what
each costs in DynamoDB.

Ours is the whole app behind Zappa's Lambda handler (API Gateway event in,
token verified, rate-limit counter written, serializers, the request log
formatted as in Lambda). The baseline is ``bench/runbook_ops.py``: the
runbook's one-function-per-route handlers in plain boto3, making the same
DynamoDB calls (checked below against a recording of ours).

(a) **moto in-process** behind both, requests interleaved one for one, so
    both see the same table and the same machine noise. Budget: our p50 at
    most 1.15x the raw handler's.
(b) **canned DynamoDB**: each side's recorded answers replayed below
    botocore (which still builds, signs and parses every call), so what is
    left is code: ours against a bare Django + DRF view per operation
    making the baseline's boto3 calls through the same Zappa handler
    (``bench/bare_urls.py``, in a process of its own since Django's
    settings are per process). Budget: ours at most 2x.
(3) **round trips and capacity** per operation, from the recording: the
    DynamoDB calls (the rate-limit counter apart) and the read and write
    units DynamoDB would charge (``bench/capacity.py``). Budget: one round
    trip; log_activity one transaction, after the one read its version
    guards and idempotency need (goal, progress, the client's id and, once
    the process knows the goal's calendar, the period's bucket); progress
    at most two.

    .venv/bin/python -m bench.warm [--quick] [--requests 1000]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from bench import harness
from bench.processes import run_child
from bench.results import Row, markdown

# The order; the runs go reads first, so writes do not grow the
# partitions the reads look at.
OPERATIONS = (
    "create_goal",
    "get_goal",
    "list_goals",
    "update_goal",
    "archive_goal",
    "log_activity",
    "list_activities",
    "get_progress",
)
RUN_ORDER = (
    "get_goal",
    "list_goals",
    "list_activities",
    "get_progress",
    "update_goal",
    "archive_goal",
    "create_goal",
    "log_activity",
)
WARM_UP = 20
GOAL = {
    "title": "Run 100 km",
    "kind": "amount",
    "target": "100",
    "unit": "km",
    "period": "weekly",
    "timezone": "Europe/Paris",
    "week_start": "monday",
    "day_start_hour": 0,
}
# Round trips allowed per operation, the rate-limit counter apart.
ROUND_TRIP_BUDGET = {"get_progress": 2}
Event = dict[str, Any]


def now_text() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


# --- The child process that runs our app --------------------------------------


@dataclass
class Side:
    """How one side (ours or the raw handler) sends each operation."""

    send: Callable[[Event], dict[str, Any]]
    next_event: dict[str, Callable[[], Event]]


def _ours(stack: harness.Stack) -> tuple[Side, dict[str, str]]:
    """Our app: one user reads a goal with 20 activities; another writes."""
    from goals.services import goal_create

    reader, reader_token = stack.user("reader")
    writer, writer_token = stack.user("writer")

    def call(method: str, path: str, token: str, body: Any = None, **headers: str) -> Any:
        response = harness.invoke(harness.event(method, path, token, body, headers=headers))
        if response["statusCode"] >= 300:
            raise SystemExit(f"{method} {path}: {response['statusCode']} {response.get('body')}")
        return harness.body_of(response)

    read_goal = call("POST", "/api/v1/goals", reader_token, GOAL)["id"]
    for number in range(20):
        value = {"value": str(number % 5 + 1), "occurred_at": now_text()}
        call("POST", f"/api/v1/goals/{read_goal}/activities", reader_token, value)
    update_goal = call("POST", "/api/v1/goals", writer_token, GOAL)["id"]
    log_goal = call("POST", "/api/v1/goals", writer_token, GOAL)["id"]
    versions = {"update": 1}
    to_archive: list[str] = []

    def fresh_goal() -> str:
        if not to_archive:  # made here, unmeasured, a hundred at a time
            for _ in range(100):
                goal, _ = goal_create(
                    user_id=writer, title="Old goal", kind="count", target=Decimal(3)
                )
                to_archive.append(goal.goal_id)
        return to_archive.pop()

    def update() -> Event:
        versions["update"] += 1
        return harness.event(
            "PATCH",
            f"/api/v1/goals/{update_goal}",
            writer_token,
            {"title": f"Run {versions['update']} km"},
            headers={"If-Match": f'"{versions["update"] - 1}"'},
        )

    events: dict[str, Callable[[], Event]] = {
        "create_goal": lambda: harness.event("POST", "/api/v1/goals", writer_token, GOAL),
        "get_goal": lambda: harness.event("GET", f"/api/v1/goals/{read_goal}", reader_token),
        "list_goals": lambda: harness.event("GET", "/api/v1/goals", reader_token),
        "update_goal": update,
        "archive_goal": lambda: harness.event(
            "POST",
            f"/api/v1/goals/{fresh_goal()}/archive",
            writer_token,
            headers={"If-Match": '"1"'},
        ),
        "log_activity": lambda: harness.event(
            "POST",
            f"/api/v1/goals/{log_goal}/activities",
            writer_token,
            {"value": "5", "occurred_at": now_text(), "note": "easy run"},
        ),
        "list_activities": lambda: harness.event(
            "GET", f"/api/v1/goals/{read_goal}/activities", reader_token
        ),
        "get_progress": lambda: harness.event(
            "GET", f"/api/v1/goals/{read_goal}/progress", reader_token
        ),
    }
    ids = {"reader": reader, "writer": writer, "read_goal": read_goal}
    return Side(send=harness.invoke, next_event=events), ids


def _raw(ids: dict[str, str]) -> Side:
    """The runbook's handlers, on the same reader's goal and their own
    goals (made through their own code) for the writes."""
    from bench import runbook_ops

    reader, writer, read_goal = ids["reader"], ids["writer"], ids["read_goal"]
    body = {key: str(value) for key, value in GOAL.items()}
    update_goal = runbook_ops.create_goal(writer, body)[1]["goal_id"]
    log_goal = runbook_ops.create_goal(writer, body)[1]["goal_id"]
    versions = {"update": 1}

    def event(
        operation: str,
        user_id: str,
        method: str,
        path: str,
        body: Any = None,
        **path_parameters: str,
    ) -> Event:
        headers = {"X-Bench-User": user_id}
        if "version" in path_parameters:
            headers["If-Match"] = f'"{path_parameters["version"]}"'
        lambda_event = harness.event(method, path, "unused", body, headers=headers)
        lambda_event["operation"] = operation
        lambda_event["pathParameters"] = path_parameters
        lambda_event["requestContext"]["authorizer"] = {"claims": {"sub": user_id}}
        lambda_event["body"] = json.dumps(body) if body is not None else None
        lambda_event["isBase64Encoded"] = False
        return lambda_event

    def fresh_goal() -> Event:
        goal_id = runbook_ops.create_goal(writer, {**body, "title": "Old goal"})[1]["goal_id"]
        return event(
            "archive_goal",
            writer,
            "POST",
            f"/api/v1/goals/{goal_id}/archive",
            None,
            goal_id=goal_id,
            version="1",
        )

    def update() -> Event:
        versions["update"] += 1
        return event(
            "update_goal",
            writer,
            "PATCH",
            f"/api/v1/goals/{update_goal}",
            {"title": f"Run {versions['update']} km"},
            goal_id=update_goal,
            version=str(versions["update"] - 1),
        )

    events: dict[str, Callable[[], Event]] = {
        "create_goal": lambda: event("create_goal", writer, "POST", "/api/v1/goals", body),
        "get_goal": lambda: event(
            "get_goal", reader, "GET", f"/api/v1/goals/{read_goal}", goal_id=read_goal
        ),
        "list_goals": lambda: event("list_goals", reader, "GET", "/api/v1/goals"),
        "update_goal": update,
        "archive_goal": fresh_goal,
        "log_activity": lambda: event(
            "log_activity",
            writer,
            "POST",
            f"/api/v1/goals/{log_goal}/activities",
            {"value": "5", "occurred_at": now_text(), "note": "easy run"},
            goal_id=log_goal,
        ),
        "list_activities": lambda: event(
            "list_activities",
            reader,
            "GET",
            f"/api/v1/goals/{read_goal}/activities",
            goal_id=read_goal,
        ),
        "get_progress": lambda: event(
            "get_progress",
            reader,
            "GET",
            f"/api/v1/goals/{read_goal}/progress",
            goal_id=read_goal,
        ),
    }
    return Side(send=lambda e: runbook_ops.lambda_handler(e, None), next_event=events)


def _next_event(sides: dict[str, Side], operation: str, name: str) -> Event:
    return sides[name].next_event[operation]()


def _checked(side: Side, lambda_event: Event) -> float:
    """Milliseconds for one request; a failed request stops the run."""
    response: dict[str, Any] = {}

    def send() -> None:
        response.update(side.send(lambda_event))

    elapsed = harness.timed(send)
    if response["statusCode"] >= 300:
        raise SystemExit(f"{lambda_event['path']}: {response['statusCode']} {response['body']}")
    return elapsed


def _interleaved(
    sides: dict[str, Side],
    requests: int,
    events: Callable[[str], Event],
    before_each: Callable[[str], None] = lambda name: None,
) -> dict[str, list[float]]:
    """``requests`` timings per side, one of each in turn (the first side
    alternating, so neither always follows the other)."""
    timings: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    warm_up = min(WARM_UP, requests)
    for number in range(warm_up + requests):
        for name in names if number % 2 else reversed(names):
            lambda_event = events(name)
            before_each(name)
            elapsed = _checked(sides[name], lambda_event)
            if number >= warm_up:
                timings[name].append(elapsed)
    return timings


def _encode(call: harness.Call) -> dict[str, Any]:
    data = asdict(call)
    data["body"] = base64.b64encode(call.body).decode()
    return data


def _decode(data: dict[str, Any]) -> harness.Call:
    return harness.Call(**{**data, "body": base64.b64decode(data["body"])})


def child_ours(requests: int) -> dict[str, Any]:
    """(a) and our half of (b), and the recordings for (3) and the bare app."""
    stack = harness.start()
    with harness.quiet() as report:
        ours, ids = _ours(stack)
        sides = {"ours": ours, "raw": _raw(ids)}
        moto: dict[str, dict[str, list[float]]] = {}
        recorded: dict[str, dict[str, tuple[Event, list[harness.Call]]]] = {}
        for operation in RUN_ORDER:
            print(f"warm: {operation}, moto in-process...", file=report)
            moto[operation] = _interleaved(sides, requests, partial(_next_event, sides, operation))
            recorded[operation] = {}
            for name, side in sides.items():
                lambda_event = side.next_event[operation]()
                with harness.recording() as calls:
                    _checked(side, lambda_event)
                recorded[operation][name] = (lambda_event, calls)
        stack.stop_moto()
        canned = _canned_phase(sides, recorded, requests, report)
    return {
        "moto": moto,
        "canned": canned,
        "recorded": {
            operation: {
                name: {"event": lambda_event, "calls": [_encode(call) for call in calls]}
                for name, (lambda_event, calls) in by_side.items()
            }
            for operation, by_side in recorded.items()
        },
    }


def _canned_phase(
    sides: dict[str, Side],
    recorded: dict[str, dict[str, tuple[Event, list[harness.Call]]]],
    requests: int,
    report: TextIO,
) -> dict[str, dict[str, list[float]]]:
    """Each side's recorded request again and again, its recorded answers
    replayed: every write "succeeds" as it did once."""
    results: dict[str, dict[str, list[float]]] = {}
    current: dict[str, harness.Canned] = {}
    with harness.canned_dynamo(lambda request: current["now"].answer(request)):
        for operation in RUN_ORDER:
            print(f"warm: {operation}, canned DynamoDB...", file=report)
            answers = {
                name: harness.Canned(calls) for name, (_, calls) in recorded[operation].items()
            }

            def switch(name: str, answers: dict[str, harness.Canned] = answers) -> None:
                current["now"] = answers[name]
                answers[name].next_request()

            results[operation] = _interleaved(
                sides,
                requests,
                partial(_recorded_event, recorded, operation),
                before_each=switch,
            )
    return results


def _recorded_event(
    recorded: dict[str, dict[str, tuple[Event, list[harness.Call]]]], operation: str, name: str
) -> Event:
    return recorded[operation][name][0]


def child_bare(recordings: dict[str, Any], requests: int) -> dict[str, list[float]]:
    """(b)'s baseline: the bare DRF app replaying the raw handler's answers."""
    os.environ.update(harness.ENVIRONMENT, DJANGO_SETTINGS_MODULE="bench.bare_app")
    scratch = Path(tempfile.mkdtemp(prefix="lifestyle-bench-bare-"))
    harness.write_zappa_settings(scratch, "bench.bare_app")
    bare = Side(send=harness.invoke, next_event={})
    results: dict[str, list[float]] = {}
    current: dict[str, harness.Canned] = {}
    with harness.canned_dynamo(lambda request: current["now"].answer(request)):
        for operation in RUN_ORDER:
            raw = recordings[operation]["raw"]
            answers = harness.Canned([_decode(call) for call in raw["calls"]])
            current["now"] = answers
            lambda_event = raw["event"]
            timings = []
            warm_up = min(WARM_UP, requests)
            for number in range(warm_up + requests):
                answers.next_request()
                elapsed = _checked(bare, lambda_event)
                if number >= warm_up:
                    timings.append(elapsed)
            results[operation] = timings
    return results


# --- The parent: children, then the table -------------------------------------


def run(quick: bool, requests: int | None = None) -> list[Row]:
    count = requests or (100 if quick else 1000)
    with tempfile.TemporaryDirectory() as scratch:
        ours = run_child("warm", "--child", "ours", "--requests", str(count))
        saved = Path(scratch) / "recorded.json"
        saved.write_text(json.dumps(ours["recorded"]))
        bare = run_child(
            "warm", "--child", "bare", "--requests", str(count), "--recorded", str(saved)
        )
    return rows(ours, bare, count)


def rows(ours: dict[str, Any], bare: dict[str, list[float]], count: int) -> list[Row]:
    from bench.capacity import Units, table_index_keys, units

    found: list[Row] = []
    for operation in OPERATIONS:
        moto = ours["moto"][operation]
        found.append(
            Row(
                "Warm latency, moto in-process",
                f"{operation} p50",
                harness.p50(moto["ours"]),
                "ms",
                baseline=harness.p50(moto["raw"]),
                baseline_name="raw boto3 handler",
                budget="<= 1.15x",
                passed=harness.p50(moto["ours"]) <= 1.15 * harness.p50(moto["raw"]),
                note=f"{count} each",
            )
        )
        found.append(
            Row(
                "Warm latency, moto in-process",
                f"{operation} p99",
                harness.p99(moto["ours"]),
                "ms",
                baseline=harness.p99(moto["raw"]),
                baseline_name="raw boto3 handler",
            )
        )
    for operation in OPERATIONS:
        canned = ours["canned"][operation]
        found.append(
            Row(
                "Warm latency, canned DynamoDB",
                f"{operation} p50",
                harness.p50(canned["ours"]),
                "ms",
                baseline=harness.p50(bare[operation]),
                baseline_name="bare DRF view",
                budget="<= 2x",
                passed=harness.p50(canned["ours"]) <= 2 * harness.p50(bare[operation]),
                note=(
                    f"raw handler {harness.p50(canned['raw']):.2f} ms; "
                    f"p99 {harness.p99(canned['ours']):.2f} ms"
                ),
            )
        )
    index_keys = table_index_keys()
    for operation in OPERATIONS:
        recorded = ours["recorded"][operation]
        calls = [_decode(call) for call in recorded["ours"]["calls"]]
        raw_calls = [_decode(call) for call in recorded["raw"]["calls"]]
        data = [call for call in calls if not _bookkeeping(call)]
        total = sum((units(call, index_keys) for call in calls), Units())
        names = [call.operation for call in data]
        if [c.operation for c in raw_calls if not _bookkeeping(c)] != names:
            raise SystemExit(f"{operation}: the raw handler's calls differ from ours: {names}")
        budget = ROUND_TRIP_BUDGET.get(operation, 1)
        transactions = names.count("TransactWriteItems")
        if operation == "log_activity":
            passed = transactions == 1 and len(names) <= 2
            budget_text = "1 transaction, after 1 read"
        else:
            passed = len(names) <= budget
            budget_text = f"<= {budget}"
        found.append(
            Row(
                "DynamoDB per request",
                f"{operation} round trips",
                len(names),
                "calls",
                budget=budget_text,
                passed=passed,
                note=(
                    f"{' + '.join(names)}; + 1 rate-limit UpdateItem; "
                    f"{total.read:g} RRU, {total.write:g} WRU with the counter"
                ),
            )
        )
    return found


def _bookkeeping(call: harness.Call) -> bool:
    """The rate-limit counter and the revocation list, apart from the data."""
    key = call.params.get("Key", {}).get("pk", {}).get("S", "")
    return str(key).startswith("RATE#") or key == "REVOCATIONS"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 requests a side, not 1,000")
    parser.add_argument("--requests", type=int, help="requests per operation and side")
    parser.add_argument("--child", choices=("ours", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--recorded", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child == "ours":
        print(json.dumps(child_ours(options.requests)))
        return 0
    if options.child == "bare":
        recordings = json.loads(options.recorded.read_text())
        print(json.dumps(child_bare(recordings, options.requests)))
        return 0
    found = run(options.quick, options.requests)
    print(markdown(found, heading="## Warm latency and DynamoDB per request"))
    return 0 if all(row.passed is not False for row in found) else 1


if __name__ == "__main__":
    raise SystemExit(main())
