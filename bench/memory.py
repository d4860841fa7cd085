"""Item 5: the memory of a warm handler process. Budget: peak RSS under
180 MB after 5,000 mixed requests (a 256 MB Lambda with room to spare), and
under 5% growth from request 1,000 to 5,000 (no leak).

moto must not share the measured process (its tables grow with every
write), so its server runs in a process of its own on loopback
(``bench.processes.moto_server``), made faithful as the tests' is: without
that, moto kept every object it ever made for its dashboard, the copies of
the whole table its transactions take included, and grew by gigabytes over
a run (``lifestyle.local_aws``). A second process provisions it with the
product's own code, signs a user in and makes a pool of 20 goals
(``cold_start.prepare_stack`` and ``goals.services.goal_create``). The
measured process then imports Zappa's handler as Lambda does (the
``zappa_settings`` module Zappa generates, ``lifestyle.settings.base``,
AWS at moto's URL, the Cognito JWKS fetched over HTTP) and sends it API
Gateway events in a fixed mix, eight requests a round:

    create goal, get goal, list goals, update goal (If-Match from the
    ETag), log activity, list activities, progress, archive goal

Each round creates one goal and archives the oldest, so the user keeps 20
active goals and the lists stay a page. ``VmRSS`` (resident now) and
``VmHWM`` (peak) are read from ``/proc/self/status`` after request 1, 1,000
and 5,000 (a fifth of the run and its end in a shorter run), and every
500th for a progress line on standard error.

The figures are the Python process's: Lambda's memory also holds its
runtime bootstrap (some 20-30 MB more).

    .venv/bin/python -m bench.memory [--quick] [--requests 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.processes import clean_env, moto_server, run_child
from bench.results import Row, markdown

SECTION = "Memory"
POOL = 20
PEAK_BUDGET_MB = 180.0
GROWTH_BUDGET_PERCENT = 5.0
PROGRESS_EVERY = 500
GOAL = {
    "title": "Run 100 km a week",
    "kind": "amount",
    "target": "100",
    "unit": "km",
    "period": "weekly",
    "timezone": "Europe/Paris",
    "week_start": "monday",
    "day_start_hour": 0,
}
Event = dict[str, Any]


def memory_mb() -> tuple[float, float]:
    """This process's resident memory now and at its peak (MB)."""
    values: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024  # kB
    return values["VmRSS"], values["VmHWM"]


# --- The provisioning process -------------------------------------------------


def prepare(endpoint: str) -> dict[str, Any]:
    """moto's server provisioned, a user signed in, a pool of goals."""
    from decimal import Decimal

    from bench.cold_start import prepare_stack

    env = prepare_stack(endpoint)
    from goals.services import goal_create

    pool = []
    for number in range(POOL):
        goal, _ = goal_create(
            user_id=env["BENCH_USER_ID"],
            title=f"Goal {number}",
            kind="amount",
            target=Decimal(100),
            period="weekly",
            timezone="Europe/Paris",
        )
        pool.append(goal.goal_id)
    return {"env": env, "pool": pool}


# --- The measured process -----------------------------------------------------


class Mix:
    """The next request of the mix, and what the answers teach it (the
    goals' versions, from their ETags)."""

    OPERATIONS = (
        "create_goal",
        "get_goal",
        "list_goals",
        "update_goal",
        "log_activity",
        "list_activities",
        "progress",
        "archive_goal",
    )

    def __init__(self, token: str, pool: list[str]) -> None:
        self.token = token
        self.pool = list(pool)
        self.versions = dict.fromkeys(pool, 1)
        self.round = 0

    def _target(self) -> str:
        """The goal a round reads and writes: each of the pool in turn."""
        return self.pool[self.round % len(self.pool)]

    def event(self, number: int) -> tuple[str, Event]:
        from bench import harness

        operation = self.OPERATIONS[number % len(self.OPERATIONS)]
        self.round = number // len(self.OPERATIONS)
        goal = self._target()
        path = f"/api/v1/goals/{goal}"
        builders: dict[str, Callable[[], Event]] = {
            "create_goal": lambda: harness.event("POST", "/api/v1/goals", self.token, GOAL),
            "get_goal": lambda: harness.event("GET", path, self.token),
            "list_goals": lambda: harness.event("GET", "/api/v1/goals", self.token),
            "update_goal": lambda: harness.event(
                "PATCH",
                path,
                self.token,
                {"title": f"Run {number} km"},
                headers={"If-Match": f'"{self.versions[goal]}"'},
            ),
            "log_activity": lambda: harness.event(
                "POST",
                f"{path}/activities",
                self.token,
                {"value": "5", "occurred_at": _now(), "note": "easy run"},
            ),
            "list_activities": lambda: harness.event("GET", f"{path}/activities", self.token),
            "progress": lambda: harness.event("GET", f"{path}/progress", self.token),
            "archive_goal": lambda: harness.event(
                "POST",
                f"/api/v1/goals/{self.pool[0]}/archive",
                self.token,
                headers={"If-Match": f'"{self.versions[self.pool[0]]}"'},
            ),
        }
        return operation, builders[operation]()

    def learn(self, operation: str, response: dict[str, Any]) -> None:
        from bench import harness

        if operation == "create_goal":
            created = str(harness.body_of(response)["id"])
            self.pool.append(created)
            self.versions[created] = _version(response)
        elif operation == "archive_goal":
            archived = self.pool.pop(0)
            del self.versions[archived]
        elif operation in ("get_goal", "update_goal"):
            self.versions[self._target()] = _version(response)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _version(response: dict[str, Any]) -> int:
    """The goal's version, from the response's ETag (``"3"``)."""
    for key, value in (response.get("headers") or {}).items():
        if key.lower() == "etag":
            return int(str(value).strip('"'))
    raise SystemExit(f"no ETag in a {response['statusCode']} response")


def measure(requests: int, pool: list[str]) -> dict[str, Any]:
    """``requests`` requests of the mix through Zappa's handler, with this
    process's memory read at the checkpoints."""
    from bench import harness

    scratch = Path(tempfile.mkdtemp(prefix="lifestyle-bench-memory-"))
    harness.write_zappa_settings(scratch, "lifestyle.settings.base")
    mix = Mix(os.environ["BENCH_TOKEN"], pool)
    middle = requests // 5
    checkpoints = {1, middle, requests}
    readings: dict[int, tuple[float, float]] = {}
    began = time.perf_counter()
    with harness.quiet() as report:
        for number in range(requests):
            operation, lambda_event = mix.event(number)
            response = harness.invoke(lambda_event)
            if response["statusCode"] >= 300:
                raise SystemExit(
                    f"request {number + 1} ({operation}): "
                    f"{response['statusCode']} {response.get('body')}"
                )
            mix.learn(operation, response)
            done = number + 1
            if done in checkpoints or done % PROGRESS_EVERY == 0:
                readings[done] = memory_mb()
                rss, peak = readings[done]
                print(
                    f"memory: {done} requests, RSS {rss:.1f} MB, peak {peak:.1f} MB, "
                    f"{time.perf_counter() - began:.0f} s",
                    file=report,
                )
    return {
        "requests": requests,
        "middle": middle,
        "seconds": time.perf_counter() - began,
        "readings": {str(done): reading for done, reading in readings.items()},
    }


# --- The parent ---------------------------------------------------------------


def run(quick: bool, requests: int | None = None) -> list[Row]:
    count = requests or (600 if quick else 5000)
    with moto_server() as endpoint:
        prepared = run_child("memory", "--child", "prepare", "--endpoint", endpoint)
        env = clean_env(
            **{
                **prepared["env"],
                "RATE_LIMIT_READ": "1000000/60",
                "RATE_LIMIT_WRITE": "1000000/60",
                "LOG_LEVEL": "INFO",  # as deployed: a request log line each
            }
        )
        found = run_child(
            "memory",
            "--child",
            "measure",
            "--requests",
            str(count),
            "--pool",
            ",".join(prepared["pool"]),
            env=env,
        )
    return rows(found, quick)


def rows(found: dict[str, Any], quick: bool) -> list[Row]:
    readings = {int(done): tuple(reading) for done, reading in found["readings"].items()}
    requests, middle = found["requests"], found["middle"]
    first_rss, _ = readings[1]
    middle_rss, _ = readings[middle]
    last_rss, peak = readings[requests]
    growth = (last_rss - middle_rss) / middle_rss * 100
    mix = f"{requests:,} mixed requests in {found['seconds']:.0f} s"
    return [
        Row(
            SECTION,
            f"peak RSS after {requests:,} requests",
            peak,
            "MB",
            budget=f"< {PEAK_BUDGET_MB:.0f} MB",
            passed=peak < PEAK_BUDGET_MB,
            note=f"VmHWM of the Python process; Lambda adds its runtime, ~20-30 MB; {mix}",
        ),
        Row(SECTION, "RSS after the first request", first_rss, "MB", note="VmRSS"),
        Row(
            SECTION,
            f"RSS growth, request {middle:,} to {requests:,}",
            growth,
            "%",
            budget=f"< {GROWTH_BUDGET_PERCENT:.0f}%",
            passed=growth < GROWTH_BUDGET_PERCENT if not quick else None,
            note=f"VmRSS {middle_rss:.1f} -> {last_rss:.1f} MB"
            + ("; a quick run: too short to judge, not budgeted" if quick else ""),
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="600 requests, not 5,000")
    parser.add_argument("--requests", type=int, help="requests in the mix")
    parser.add_argument("--child", choices=("prepare", "measure"), help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--pool", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child == "prepare":
        print(json.dumps(prepare(options.endpoint)))
        return 0
    if options.child == "measure":
        print(json.dumps(measure(options.requests, options.pool.split(","))))
        return 0
    found = run(options.quick, options.requests)
    print(markdown(found, heading="## Memory"))
    return 0 if all(row.passed is not False for row in found) else 1


if __name__ == "__main__":
    raise SystemExit(main())
