"""First use, measured: the cold starts a new user's first minutes pay.

The flow: sign in (Cognito directly, no Lambda in either design), create a
goal, log an activity, read the goal's progress, list its activities. In
the runbook's design every route is its own Lambda function, so the flow
touches four functions (create_goal, log_activity, get_progress,
list_activities) and meets four cold starts; ours serves every route from
one function and meets one.

Measured, not multiplied, with fresh processes against moto's server
(provisioned and signed in by bench/cold_start.py's ``prepare_stack``):

- ours: ONE fresh process serves the four requests in order through Zappa's
  handler, as one new container would; the flow's cold-start time runs
  from its spawn to its last response;
- runbook: FOUR fresh processes, each importing the runbook's raw boto3
  functions (bench/runbook_first_use.py) and serving its one request;
  the flow's time is the sum of the four, each from spawn to response.

Time to the response, not to the process's exit, is what is held to the
budget: a Lambda container is not torn down after answering, and
interpreter shutdown (some 50 ms with boto3 loaded) would be counted four
times against the runbook and once against us. Spawn to exit, as
bench/cold_start.py times a whole process, is reported beside it. The
probes mark each response on CLOCK_MONOTONIC, which every process shares.

Each repetition creates a new goal. One unmeasured flow of each warms the
OS file cache; then the designs alternate, repetition by repetition, and
the medians are reported. Every response's status is checked in the child
process that got it. When bench/cold_start.py has just run in this process
(as in ``bench.suite``), its medians give a cross-check: one of our cold
starts against four of the runbook's.

The measuring runs in a child process (``--child-json``): provisioning sets
Django up and starts moto's server, which must not stay in the suite's.

    .venv/bin/python -m bench.first_use [--quick] [--repeat 5]

This module is also the probe each fresh process runs (``python
bench/first_use.py --probe WHICH``), so it imports little at the top.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.results import Row

HERE = os.path.dirname(os.path.abspath(__file__))  # not pathlib: the probe imports little
SECTION = "First use"
ROUTES = ("create_goal", "log_activity", "get_progress", "list_activities")
MARKER = "FIRST-USE-RESULT "  # the probe's answer line on stdout (logs may precede it)
HOST = "abc123.execute-api.us-east-1.amazonaws.com"
GOAL = {
    "title": "Run",
    "kind": "amount",
    "target": "100",
    "period": "weekly",
    "timezone": "Europe/Paris",
    "week_start": "monday",
    "day_start_hour": 0,
}


def clock_ns() -> int:
    """CLOCK_MONOTONIC is one clock for every process on the machine, so a
    probe's marks compare with the spawn time its parent took."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


# --- In the fresh process: the probe --------------------------------------------


def api_event(
    method: str, path: str, *, body: object = None, goal_id: str | None = None
) -> dict[str, Any]:
    """A REST API proxy event; it carries both what our app checks (the
    bearer token) and what the runbook's functions trust (the claims API
    Gateway's Cognito authorizer adds) and its route's path parameters."""
    parameters: dict[str, str] = {"proxy": path.lstrip("/")}
    if goal_id is not None:
        parameters["goal_id"] = goal_id
    headers = {
        "Host": HOST,
        "Accept": "application/json",
        "Authorization": f"Bearer {os.environ['BENCH_TOKEN']}",
        "X-Forwarded-Proto": "https",
    }
    if body is not None:
        headers["Content-Type"] = "application/json"
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": parameters,
        "stageVariables": None,
        "requestContext": {
            "stage": "dev",
            "path": f"/dev{path}",
            "httpMethod": method,
            "requestId": "bench-first-use",
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": {"claims": {"sub": os.environ["BENCH_USER_ID"]}},
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def flow_events(route: str, goal_id: str) -> dict[str, Any]:
    """The flow's request to ``route``; ``goal_id`` is ignored by create_goal."""
    from datetime import UTC, datetime

    base = f"/api/v1/goals/{goal_id}"
    if route == "create_goal":
        return api_event("POST", "/api/v1/goals", body=GOAL)
    if route == "log_activity":
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"value": "5", "occurred_at": now}
        return api_event("POST", f"{base}/activities", body=body, goal_id=goal_id)
    if route == "get_progress":
        return api_event("GET", f"{base}/progress", goal_id=goal_id)
    return api_event("GET", f"{base}/activities", goal_id=goal_id)


EXPECTED = {"create_goal": 201, "log_activity": 201, "get_progress": 200, "list_activities": 200}


def checked(route: str, response: dict[str, Any]) -> Any:
    """The response's JSON body; exits loudly on an unexpected status."""
    import base64

    status = int(response["statusCode"])
    raw = response.get("body") or ""
    text = base64.b64decode(raw).decode() if response.get("isBase64Encoded") else str(raw)
    if status != EXPECTED[route]:
        raise SystemExit(f"{route}: status {status}, expected {EXPECTED[route]}: {text[:1000]}")
    return json.loads(text) if text else None


def probe(which: str) -> int:
    """One fresh process: ``ours`` serves the whole flow through Zappa's
    handler; a route name serves that route with the runbook's function."""
    marks: list[int] = []
    goal_id = os.environ.get("BENCH_GOAL_ID", "")
    if which == "ours":
        from zappa.handler import lambda_handler

        for route in ROUTES:
            body = checked(route, lambda_handler(flow_events(route, goal_id), None))
            marks.append(clock_ns())
            if route == "create_goal":
                goal_id = str(body["id"])
            elif route == "list_activities" and len(body["items"]) != 1:
                raise SystemExit(f"list_activities: expected one activity: {body}")
    elif which in ROUTES:
        from bench.runbook_first_use import HANDLERS

        body = checked(which, HANDLERS[which](flow_events(which, goal_id), None))
        marks.append(clock_ns())
        if which == "create_goal":
            goal_id = str(body["id"])
        elif which == "list_activities" and len(body["items"]) != 1:
            raise SystemExit(f"list_activities: expected one activity: {body}")
    else:
        raise SystemExit(f"unknown probe {which!r}")
    print(MARKER + json.dumps({"marks": marks, "goal_id": goal_id}), flush=True)
    return 0


# --- In the measuring process ---------------------------------------------------------


def spawn(which: str, env: dict[str, str]) -> tuple[float, list[float], str]:
    """One fresh process: ms from spawn to exit, ms from spawn to each of
    its responses, and the goal it worked on."""
    import subprocess

    started = clock_ns()
    result = subprocess.run(  # noqa: S603 (this module, as the probe)
        [sys.executable, os.path.join(HERE, "first_use.py"), "--probe", which],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    ended = clock_ns()
    if result.returncode != 0:
        raise SystemExit(f"first use, {which} failed:\n{result.stderr[-3000:]}")
    answers = [line for line in result.stdout.splitlines() if line.startswith(MARKER)]
    if not answers:
        raise SystemExit(f"first use, {which}: no answer:\n{result.stdout[-2000:]}")
    answer = json.loads(answers[-1].removeprefix(MARKER))
    marks = [(mark - started) / 1e6 for mark in answer["marks"]]
    return (ended - started) / 1e6, marks, str(answer["goal_id"])


def flow_ours(env: dict[str, str]) -> dict[str, float]:
    """One process serves the flow: its first and last response, its exit."""
    exited, marks, _ = spawn("ours", env)
    return {"processes": 1, "first": marks[0], "responses": marks[-1], "exited": exited}


def flow_runbook(env: dict[str, str]) -> dict[str, float]:
    """A process per route, one after another: the sums of their times to
    the response and to exit, and each route's time to exit."""
    timings = {"processes": 0.0, "responses": 0.0, "exited": 0.0}
    goal_id = ""
    for route in ROUTES:
        exited, marks, goal_id = spawn(route, {**env, "BENCH_GOAL_ID": goal_id})
        if route == ROUTES[0]:
            timings["first"] = marks[0]
        timings[route] = marks[0]
        timings["processes"] += 1
        timings["responses"] += marks[0]
        timings["exited"] += exited
    return timings


def measure(repeat: int) -> dict[str, list[dict[str, float]]]:
    """``repeat`` flows of each design, alternating which goes first, after
    one unmeasured flow each. Starts moto's server and sets Django up in
    this process."""
    import tempfile
    from pathlib import Path

    from bench.cold_start import child_env, prepare_stack, settings_dirs
    from lifestyle.local_aws import start_moto_server

    server, endpoint = start_moto_server()
    try:
        base = prepare_stack(endpoint)
        with tempfile.TemporaryDirectory() as scratch:
            folders = settings_dirs(Path(scratch))
            designs = {
                "ours": (flow_ours, child_env(base, "lifestyle", folders)),
                "runbook": (flow_runbook, child_env(base, "runbook", folders)),
            }
            for flow, env in designs.values():  # warm the OS file cache, not measured
                flow(env)
            found: dict[str, list[dict[str, float]]] = {name: [] for name in designs}
            for rep in range(repeat):
                order = list(designs) if rep % 2 == 0 else list(reversed(designs))
                for name in order:
                    flow, env = designs[name]
                    found[name].append(flow(env))
                print(f"first use: repetition {rep + 1}/{repeat} done", file=sys.stderr, flush=True)
    finally:
        server.stop()
    return found


def rows(found: dict[str, list[dict[str, float]]]) -> list[Row]:
    import statistics

    from bench import cold_start
    from bench.results import Row

    def median(design: str, key: str) -> float:
        return statistics.median(flow[key] for flow in found[design])

    count = len(found["ours"])
    ours, runbook = median("ours", "responses"), median("runbook", "responses")
    each = ", ".join(f"{route} {median('runbook', route):.0f}" for route in ROUTES)
    runbook_name = "runbook: one function per route"
    result = [
        Row(
            SECTION,
            "cold starts paid in the flow (sign in, create, log, progress, list)",
            median("ours", "processes"),  # fresh processes the flow needed
            "cold starts",
            baseline=median("runbook", "processes"),
            baseline_name=runbook_name,
        ),
        Row(
            SECTION,
            f"cold-start time of the flow, spawn to response, median of {count}",
            ours,
            "ms",
            baseline=runbook,
            baseline_name=runbook_name,
            budget="ours <= runbook",
            passed=ours <= runbook,
            note=f"runbook's four: {each} ms",
        ),
        Row(
            SECTION,
            "the same to process exit (exit paid once vs four times; Lambda never pays it)",
            median("ours", "exited"),
            "ms",
            baseline=median("runbook", "exited"),
            baseline_name=runbook_name,
        ),
        Row(
            SECTION,
            "time to the first response (create goal)",
            median("ours", "first"),
            "ms",
            baseline=median("runbook", "first"),
            baseline_name=runbook_name,
        ),
    ]
    last = cold_start.LAST
    if last:
        result.append(
            Row(
                SECTION,
                "cross-check from the cold start medians: 1 of ours vs 4 of the runbook's",
                last["lifestyle"],
                "ms",
                baseline=len(ROUTES) * last["runbook"],
                baseline_name="4 x runbook GET /goals",
            )
        )
    return result


def run(quick: bool) -> list[Row]:
    """Full: 5 flows of each design; quick: 1. Measured in a child process."""

    from bench.processes import run_child

    repeat = 1 if quick else 5
    return rows(run_child("first_use", "--child-json", "--repeat", str(repeat), marker=MARKER))


def main() -> int:
    if sys.argv[1:2] == ["--probe"]:  # a fresh process: nothing more to import
        return probe(sys.argv[2])
    import argparse

    from bench.results import markdown

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one flow of each: a smoke run")
    parser.add_argument("--repeat", type=int, default=5, help="flows of each design")
    parser.add_argument("--child-json", action="store_true", help="print JSON (for run())")
    args = parser.parse_args()
    found = measure(1 if args.quick else args.repeat)
    if args.child_json:
        print(MARKER + json.dumps(found), flush=True)
        return 0
    table = rows(found)
    print(markdown(table, heading="## First use"))
    return 1 if any(row.passed is False for row in table) else 0


if __name__ == "__main__":
    sys.exit(main())
