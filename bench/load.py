"""A bounded load test: simulated mobile users against gunicorn, then proof
that nothing acknowledged was lost or counted twice.

1. moto's server (``lifestyle.local_aws.start_moto_server``) in a child
   process of its own, so this process's client threads do not share its GIL,
   made to keep DynamoDB's transaction guarantees at DynamoDB's cost (see
   ``lifestyle.local_aws``; ``--plain-moto`` leaves it as shipped);
2. the stack provisioned with the product's own code, N Cognito users
   signed in (``lifestyle.provisioning``);
3. the API served by gunicorn on loopback (gthread workers sized for this
   machine's cores), pointed at moto like ``make run`` points runserver;
4. each user's goals created through the API (every create sent twice: the
   second must be an idempotent replay);
5. N users, one thread each, for the given seconds, doing what the app does
   with a pause between actions: sync with their cursor, list goals, read
   progress and profile, log activities with their own ids (some sent again,
   as after a lost response), fix and delete them with If-Match, log two at
   once from two devices, replay an offline queue through the batch endpoint;
6. the checks: every acknowledged activity is stored with its value, every
   acknowledged delete is gone, nothing is stored that no client sent, each
   goal's progress item (and each period bucket) equals the sum of its
   stored activities and the API's progress says the same, each device's
   copy built from delta sync alone equals what is stored, every replay
   answered with the original, no answer was a 500.

The results (requests per second, latency percentiles per operation, errors
by status, 429s apart) are printed as Markdown; ``--write`` also puts them in
docs/reliability.md between its result markers. Exit status 1 when a check
fails.

    .venv/bin/python -m bench.load [--users 50] [--seconds 60] [--quick] [--write]
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

import requests
from requests.structures import CaseInsensitiveDict

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reliability.md"
RESULTS_START = "<!-- load-results:start -->"
RESULTS_END = "<!-- load-results:end -->"
HOST = "127.0.0.1"
PASSWORD = "Load-test-password-1"  # moto's Cognito, forgotten when the run ends
# (connect, read) seconds: past this the outcome of a write is unknown.
CLIENT_TIMEOUT = (5, 30)

# The actions of one simulated user and how often each is picked.
ACTION_WEIGHTS = {
    "sync": 15,
    "list_goals": 10,
    "get_progress": 15,
    "get_profile": 5,
    "log_activity": 25,
    "log_two_devices": 5,
    "edit_activity": 10,
    "delete_activity": 5,
    "batch": 5,
}
RESEND_SHARE = 0.2  # logs sent again after their 201, as after a lost response
BATCH_ITEMS = (3, 8)


# --- Measurements ----------------------------------------------------------------


class Stats:
    """Every request's operation, outcome (HTTP status, or "timeout" /
    "connection" when no answer came) and latency; shared by the threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.samples: list[tuple[str, int | str, float]] = []

    def record(self, op: str, outcome: int | str, ms: float) -> None:
        with self._lock:
            self.samples.append((op, outcome, ms))

    def snapshot(self) -> list[tuple[str, int | str, float]]:
        with self._lock:
            return list(self.samples)


def percentile(sorted_ms: list[float], share: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    rank = max(math.ceil(share / 100 * len(sorted_ms)), 1)
    return sorted_ms[rank - 1]


def is_error(outcome: int | str) -> bool:
    return not (isinstance(outcome, int) and outcome < 400)


@dataclass
class Answer:
    """What one request got: a status (None when no answer came), the JSON
    body and the headers."""

    status: int | None
    body: Any = None
    headers: CaseInsensitiveDict[str] = field(default_factory=CaseInsensitiveDict)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def refused(self) -> bool:
        """A 4xx: the server says it did nothing."""
        return self.status is not None and 400 <= self.status < 500

    @property
    def unknown(self) -> bool:
        """No answer, or a 5xx: the write may or may not have happened."""
        return not self.ok and not self.refused


class Api:
    """One device's HTTP client for one user (its own keep-alive connection).
    A patient one (for the checks) waits out a 429 and asks again."""

    def __init__(self, base_url: str, token: str, stats: Stats) -> None:
        self.base_url = base_url
        self.stats = stats
        self.patient = False
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, op: str, method: str, path: str, **options: Any) -> Answer:
        answer = self.send(op, method, path, **options)
        while self.patient and answer.status == 429:
            time.sleep(float(answer.headers.get("Retry-After", "1")))
            answer = self.send(op, method, path, **options)
        return answer

    def send(
        self,
        op: str,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        started = time.perf_counter()
        try:
            response = self.session.request(
                method,
                f"{self.base_url}{path}",
                json=body,
                params=params,
                headers=headers,
                timeout=CLIENT_TIMEOUT,
            )
        except requests.Timeout:
            self.stats.record(op, "timeout", (time.perf_counter() - started) * 1000)
            return Answer(None)
        except requests.ConnectionError:
            self.stats.record(op, "connection", (time.perf_counter() - started) * 1000)
            return Answer(None)
        self.stats.record(op, response.status_code, (time.perf_counter() - started) * 1000)
        try:
            payload = response.json() if response.content else None
        except ValueError:
            payload = None
        return Answer(response.status_code, payload, response.headers)


# --- What the clients were told, to check against what is stored --------------


@dataclass
class Expected:
    """One activity as the clients know it: the values it may be stored
    with, and whether it must be there (True), must be gone (False) or may
    be either (None: a write whose answer never came)."""

    goal_id: str
    values: set[Decimal]
    present: bool | None


@dataclass
class Live:
    """An activity this device may still change: its ETag, and the exact
    payload it was logged with while it is unchanged (for resending)."""

    goal_id: str
    etag: str
    payload: dict[str, Any] | None


@dataclass
class Goal:
    goal_id: str
    kind: str  # "count" (daily target) or "amount" (one-off)


@dataclass
class SimUser:
    """One person with a phone and a watch, and everything their devices
    were told."""

    username: str
    user_id: str
    phone: Api
    watch: Api
    rng: random.Random
    goals: list[Goal] = field(default_factory=list)
    expected: dict[str, Expected] = field(default_factory=dict)
    live: dict[str, Live] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # The phone's copy of the account, built from delta sync alone.
    cursor: str | None = None
    replica_activities: dict[str, tuple[int, Decimal]] = field(default_factory=dict)
    replica_goals: set[str] = field(default_factory=set)
    resends: int = 0


def new_value(user: SimUser, goal: Goal) -> Any:
    if goal.kind == "count":
        return user.rng.randint(1, 10)
    return f"{user.rng.randint(1, 2000) / 100:.2f}"  # km, as text: an exact decimal


def recent_moment(user: SimUser) -> str:
    """Some time in the last three days (the goals started a week ago), so a
    daily goal's activities fall in several buckets."""
    moment = datetime.now(UTC) - timedelta(seconds=user.rng.randint(0, 3 * 86400))
    return moment.isoformat(timespec="milliseconds")


def acknowledge_log(user: SimUser, answer: Answer, payload: dict[str, Any], goal_id: str) -> None:
    """Note the outcome of a log: stored (201), not stored (4xx), or
    unknown (no answer / 5xx: it may be stored, and must then be right)."""
    activity_id = payload["id"]
    value = Decimal(str(payload["value"]))
    if answer.ok:
        user.expected[activity_id] = Expected(goal_id, {value}, True)
        user.live[activity_id] = Live(goal_id, answer.headers.get("ETag", ""), payload)
    elif answer.unknown and activity_id not in user.expected:
        user.expected[activity_id] = Expected(goal_id, {value}, None)


def log_activity(user: SimUser, api: Api | None = None, goal: Goal | None = None) -> None:
    """Log one activity with the device's own id. No answer or a 5xx is
    sent again (as the app does); a share of 201s is sent again too, as
    when the answer is lost on the way back, and must be a replay."""
    api = api or user.phone
    goal = goal or user.rng.choice(user.goals)
    payload = {
        "id": str(uuid.uuid4()),
        "value": new_value(user, goal),
        "occurred_at": recent_moment(user),
        "note": user.rng.choice(("", "after work", "morning 🌅")),
    }
    path = f"/api/v1/goals/{goal.goal_id}/activities"
    answer = api.call("log_activity", "POST", path, body=payload)
    for _ in range(2):
        if not answer.unknown:
            break
        acknowledge_log(user, answer, payload, goal.goal_id)
        time.sleep(1)  # Retry-After
        answer = api.call("log_activity (resend)", "POST", path, body=payload)
    acknowledge_log(user, answer, payload, goal.goal_id)
    if answer.ok and user.rng.random() < RESEND_SHARE:
        again = api.call("log_activity (resend)", "POST", path, body=payload)
        user.resends += 1
        if again.ok and (
            again.headers.get("Idempotent-Replayed") != "true"
            or again.body.get("id") != payload["id"]
            or Decimal(again.body["value"]) != Decimal(str(payload["value"]))
        ):
            user.problems.append(f"log {payload['id']} sent again was not a replay: {again.body}")


def log_two_devices(user: SimUser) -> None:
    """Phone and watch log to the same goal at the same moment: the two
    transactions race for the goal's totals and both must count once."""
    goal = user.rng.choice(user.goals)
    with ThreadPoolExecutor(2) as pool:
        logs = [
            pool.submit(log_activity, user, device, goal) for device in (user.phone, user.watch)
        ]
    for done in logs:
        done.result()  # raises what the thread raised


def edit_activity(user: SimUser) -> None:
    if not user.live:
        log_activity(user)
        return
    activity_id = user.rng.choice(sorted(user.live))
    live = user.live[activity_id]
    goal = next(goal for goal in user.goals if goal.goal_id == live.goal_id)
    changes: dict[str, Any] = {"value": new_value(user, goal)}
    if user.rng.random() < 0.3:
        changes["occurred_at"] = recent_moment(user)  # may move it to another day's bucket
    answer = user.phone.call(
        "edit_activity",
        "PATCH",
        f"/api/v1/activities/{activity_id}",
        body=changes,
        headers={"If-Match": live.etag},
    )
    value = Decimal(str(changes["value"]))
    expected = user.expected[activity_id]
    if answer.ok:
        expected.values = {value}
        user.live[activity_id] = Live(live.goal_id, answer.headers.get("ETag", ""), None)
    elif answer.unknown:
        expected.values.add(value)
        del user.live[activity_id]  # its version is unknown now: leave it alone


def delete_activity(user: SimUser) -> None:
    if not user.live:
        log_activity(user)
        return
    activity_id = user.rng.choice(sorted(user.live))
    live = user.live.pop(activity_id)
    answer = user.phone.call(
        "delete_activity",
        "DELETE",
        f"/api/v1/activities/{activity_id}",
        headers={"If-Match": live.etag},
    )
    if answer.ok:
        user.expected[activity_id].present = False
    elif answer.unknown:
        user.expected[activity_id].present = None
    else:
        user.live[activity_id] = live


def batch(user: SimUser) -> None:
    """An offline queue replayed: new activities, and sometimes one the
    server already has (its answer was lost), which must be a duplicate."""
    items = []
    for _ in range(user.rng.randint(*BATCH_ITEMS)):
        goal = user.rng.choice(user.goals)
        items.append(
            {
                "id": str(uuid.uuid4()),
                "goal_id": goal.goal_id,
                "value": new_value(user, goal),
                "occurred_at": recent_moment(user),
            }
        )
    resendable = [
        (activity_id, live) for activity_id, live in user.live.items() if live.payload is not None
    ]
    resent = None
    if resendable and user.rng.random() < 0.5:
        resent, live = user.rng.choice(sorted(resendable, key=lambda pair: pair[0]))
        items.append({**(live.payload or {}), "goal_id": live.goal_id})
        user.resends += 1
    body = {"activities": items}
    answer = user.phone.call("batch", "POST", "/api/v1/activities:batch", body=body)
    if not answer.ok:
        for item in items:
            if answer.unknown and item["id"] not in user.expected:
                value = Decimal(str(item["value"]))
                user.expected[item["id"]] = Expected(item["goal_id"], {value}, None)
        return
    for item, result in zip(items, answer.body["results"], strict=True):
        if item["id"] == resent:
            if result["status"] != "duplicate":
                user.problems.append(f"batch resend of {resent} was {result['status']}, not a dup")
            continue
        if result["status"] == "duplicate":
            user.problems.append(f"batch item {item['id']} was new but answered duplicate")
        item_answer = Answer(result["status_code"], result.get("activity"))
        if item_answer.ok:
            item_answer.headers["ETag"] = f'"{result["activity"]["version"]}"'
        acknowledge_log(user, item_answer, item, item["goal_id"])


def sync(user: SimUser, op: str = "sync") -> bool:
    """Pages through delta sync from the phone's cursor into its copy;
    False when a page did not come (the cursor stays where it was)."""
    while True:
        params = {"cursor": user.cursor} if user.cursor else None
        answer = user.phone.call(op, "GET", "/api/v1/sync", params=params)
        if not answer.ok:
            return False
        page = answer.body
        for goal in page["goals"]:
            user.replica_goals.add(goal["id"])
        for activity in page["activities"]:
            known = user.replica_activities.get(activity["id"])
            if known is None or activity["version"] >= known[0]:
                value = Decimal(activity["value"])
                user.replica_activities[activity["id"]] = (activity["version"], value)
        for gone in page["deleted"]:
            user.replica_activities.pop(gone["id"], None)
        user.cursor = page["cursor"]
        if not page["has_more"]:
            return True


def list_goals(user: SimUser) -> None:
    user.phone.call("list_goals", "GET", "/api/v1/goals")


def get_progress(user: SimUser) -> None:
    goal = user.rng.choice(user.goals)
    user.phone.call("get_progress", "GET", f"/api/v1/goals/{goal.goal_id}/progress")


def get_profile(user: SimUser) -> None:
    user.phone.call("get_profile", "GET", "/api/v1/me")


ACTIONS: dict[str, Callable[[SimUser], Any]] = {
    "sync": sync,
    "list_goals": list_goals,
    "get_progress": get_progress,
    "get_profile": get_profile,
    "log_activity": log_activity,
    "log_two_devices": log_two_devices,
    "edit_activity": edit_activity,
    "delete_activity": delete_activity,
    "batch": batch,
}


def run_user(user: SimUser, deadline: float, think: float) -> None:
    """Opens the app (a sync) and does every action once, in its own order,
    whatever the deadline (so even a short run goes down every path); then
    acts at random, by the weights, and pauses until the deadline."""
    names, weights = list(ACTION_WEIGHTS), list(ACTION_WEIGHTS.values())
    tour = user.rng.sample(names, len(names))
    try:
        sync(user)
        while tour or time.monotonic() < deadline:
            ACTIONS[tour.pop() if tour else user.rng.choices(names, weights)[0]](user)
            pause = user.rng.uniform(0.5, 1.5) * think
            if not tour:
                pause = min(pause, deadline - time.monotonic())
            time.sleep(max(pause, 0))
    except Exception as error:  # a client bug must fail the run, not vanish with the thread
        user.problems.append(f"simulated user crashed: {type(error).__name__}: {error}")


# --- The stack -------------------------------------------------------------------


@contextmanager
def moto_process(*, plain: bool) -> Iterator[tuple[str, int]]:
    """moto's server, started by the product's helper in a child process
    (``--serve-moto``); its URL and process id."""
    command = [sys.executable, "-m", "bench.load", "--serve-moto"]
    if plain:
        command.append("--plain-moto")
    child = subprocess.Popen(  # noqa: S603 (this script)
        command,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        endpoint = child.stdout.readline().strip() if child.stdout else ""
        if not endpoint.startswith("http"):
            raise SystemExit("moto's server did not start")
        yield endpoint, child.pid
    finally:
        if child.stdin:
            child.stdin.close()  # the child stops its server when its stdin ends
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def serve_moto(*, plain: bool) -> int:
    """The child's side: serve until the parent closes our stdin (or dies)."""
    from lifestyle.local_aws import start_moto_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server, endpoint = start_moto_server(faithful=not plain)
    print(endpoint, flush=True)
    try:
        sys.stdin.read()
    finally:
        server.stop()
    return 0


def prepare_stack(endpoint: str) -> dict[str, str]:
    """Provision moto with the product's code (this process talks to it for
    setup and for the checks); the environment the server needs."""
    env = {
        "DJANGO_SETTINGS_MODULE": "lifestyle.settings.base",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "load",
        "AWS_SECRET_ACCESS_KEY": "load",
        "DYNAMODB_TABLE": "load-goals",
        "AWS_STORAGE_BUCKET_NAME": "load-attachments",
        "COGNITO_USER_POOL_NAME": "load-users",
        "DJANGO_SECRET_KEY": "load-test-only-secret",
        "DJANGO_ALLOWED_HOSTS": HOST,
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "COGNITO_JWKS_URL", "LIFESTYLE_SECRET_ID"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from lifestyle.provisioning import provision

    stack = provision()
    return {
        **env,
        "COGNITO_USER_POOL_ID": stack.user_pool_id,
        "COGNITO_APP_CLIENT_ID": stack.app_client_id,
    }


def create_users(count: int, env: dict[str, str]) -> list[tuple[str, str, str]]:
    """``count`` Cognito users signed in: (username, sub, access token)."""
    import jwt

    from lifestyle.provisioning import ensure_user, sign_in

    def one(number: int) -> tuple[str, str, str]:
        username = f"load-user-{number:03d}"
        ensure_user(
            env["COGNITO_USER_POOL_ID"],
            username=username,
            password=PASSWORD,
            email=f"{username}@example.com",
        )
        token = sign_in(env["COGNITO_APP_CLIENT_ID"], username, PASSWORD)["AccessToken"]
        return username, jwt.decode(token, options={"verify_signature": False})["sub"], token

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class ServerShape:
    workers: int
    threads: int

    @classmethod
    def for_this_machine(cls) -> ServerShape:
        """One worker process per core, each with threads to overlap the
        waits on DynamoDB: the app is mostly waiting on I/O, so threads, not
        more processes, add concurrency without adding memory."""
        return cls(workers=max(os.cpu_count() or 1, 1), threads=8)


@contextmanager
def gunicorn(env: dict[str, str], shape: ServerShape, log: Path) -> Iterator[tuple[str, int]]:
    """The API under gunicorn on loopback; its base URL and the master's
    process id."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "lifestyle.wsgi",
        "--bind", f"{HOST}:{port}",
        "--worker-class", "gthread",
        "--workers", str(shape.workers),
        "--threads", str(shape.threads),
        "--timeout", "60",
        "--graceful-timeout", "5",
        # Longer than any pause between a user's requests: an idle connection
        # closed just as the client reuses it would be an error of the test's.
        "--keep-alive", "30",
        "--log-level", "warning",
        "--error-logfile", str(log),
    ]  # fmt: skip
    child_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(command, cwd=ROOT, env=child_env)  # noqa: S603 (our venv's gunicorn)
    base_url = f"http://{HOST}:{port}"
    try:
        wait_until_up(base_url, server, log)
        yield base_url, server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wait_until_up(base_url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(f"{base_url}/api/v1/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer in 60 s:\n{log.read_text()[-3000:]}")


def create_goals(user: SimUser) -> None:
    """A daily count goal and a one-off distance goal, each created with the
    device's own id and sent twice: the second must replay the first."""
    start = (datetime.now(UTC).date() - timedelta(days=7)).isoformat()  # goals count in UTC
    for kind, extra in (
        ("count", {"title": "Push-ups", "period": "daily", "target": "20"}),
        ("amount", {"title": "Run 500 km", "unit": "km", "target": "500"}),
    ):
        body = {"id": str(uuid.uuid4()), "kind": kind, "start_date": start, **extra}
        first = user.phone.call("create_goal (setup)", "POST", "/api/v1/goals", body=body)
        again = user.phone.call("create_goal (setup)", "POST", "/api/v1/goals", body=body)
        if first.status != 201:
            raise SystemExit(f"could not create a goal: {first.status} {first.body}")
        if again.status != 201 or again.headers.get("Idempotent-Replayed") != "true":
            user.problems.append(f"goal create sent twice was not a replay: {again.status}")
        user.goals.append(Goal(first.body["id"], kind))


# --- The run ---------------------------------------------------------------------


def report_progress(stats: Stats, started: float, stop: threading.Event, every: float) -> None:
    seen = 0
    while not stop.wait(every):
        samples = stats.snapshot()
        recent = samples[seen:]
        seen = len(samples)
        limited = sum(outcome == 429 for _, outcome, _ in samples)
        errors = sum(is_error(outcome) for _, outcome, _ in samples) - limited
        print(
            f"[{time.monotonic() - started:5.0f} s] {len(samples)} requests, "
            f"{len(recent) / every:.1f} req/s in the last {every:.0f} s, {errors} errors, "
            f"{limited} rate limited (429)",
            file=sys.stderr,
            flush=True,
        )


def run_load(users: list[SimUser], seconds: float, think: float, every: float) -> None:
    """All users at once until the deadline (and their first round of
    actions done)."""
    stats = users[0].phone.stats
    stop = threading.Event()
    started = time.monotonic()
    reporter = threading.Thread(
        target=report_progress, args=(stats, started, stop, every), daemon=True
    )
    reporter.start()
    threads = [
        threading.Thread(target=run_user, args=(user, started + seconds, think), daemon=True)
        for user in users
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()


# --- The checks ------------------------------------------------------------------


@dataclass
class CheckCounts:
    activities_present: int = 0
    activities_gone: int = 0
    activities_unknown: int = 0
    goals: int = 0
    buckets: int = 0
    replicas: int = 0
    resends: int = 0


@dataclass
class Stored:
    """What DynamoDB holds for one user, read consistently."""

    activities: dict[str, Any]  # by id
    progress: dict[str, Any]  # by goal id
    buckets: dict[tuple[str, str], Any]  # by goal id and period key
    goal_ids: set[str]


def stored_state(user_id: str) -> Stored:
    """The user's activities, aggregates and goals, as stored."""
    from activities.models import Activity, GoalProgress, PeriodBucket
    from goals.models import Goal as GoalItem
    from lifestyle.dynamo import user_pk

    pk = user_pk(user_id)

    def items(model: Any, prefix: str) -> list[Any]:
        return list(model.query(pk, model.sk.startswith(prefix), consistent_read=True))

    return Stored(
        activities={item.activity_id: item for item in items(Activity, "ACTIVITY#")},
        progress={item.goal_id: item for item in items(GoalProgress, "PROGRESS#")},
        buckets={(item.goal_id, item.period_key): item for item in items(PeriodBucket, "BUCKET#")},
        goal_ids={item.goal_id for item in items(GoalItem, "GOAL#")},
    )


def check_activities(user: SimUser, activities: dict[str, Any], counts: CheckCounts) -> list[str]:
    """Acknowledged activities are stored with their value, acknowledged
    deletes are gone, and nothing is stored that no device sent."""
    problems = []
    for activity_id, expected in user.expected.items():
        stored = activities.get(activity_id)
        if expected.present is False:
            counts.activities_gone += 1
            if stored is not None:
                problems.append(f"activity {activity_id}: deleted (204) but still stored")
            continue
        if expected.present is None:
            counts.activities_unknown += 1
        else:
            counts.activities_present += 1
            if stored is None:
                problems.append(f"activity {activity_id}: acknowledged but not stored")
                continue
        if stored is not None and stored.value not in expected.values:
            told = ", ".join(str(value) for value in sorted(expected.values))
            problems.append(f"activity {activity_id}: stored {stored.value}, the device has {told}")
    problems += [
        f"activity {activity_id}: stored, but no device sent it"
        for activity_id in sorted(set(activities) - set(user.expected))
    ]
    return problems


def add_up(values: list[Decimal]) -> tuple[Decimal, int]:
    return sum(values, Decimal(0)), len(values)


def check_totals(user: SimUser, stored: Stored, counts: CheckCounts) -> list[str]:
    """Each goal's progress item, each daily bucket and the API's progress
    equal the sums of the stored activities."""
    problems = []
    by_goal: dict[str, list[Decimal]] = defaultdict(list)
    by_period: dict[tuple[str, str], list[Decimal]] = defaultdict(list)
    daily = {goal.goal_id for goal in user.goals if goal.kind == "count"}
    for item in stored.activities.values():
        by_goal[item.goal_id].append(item.value)
        if item.goal_id in daily:
            by_period[(item.goal_id, item.period_key)].append(item.value)
    for goal in user.goals:
        counts.goals += 1
        want = add_up(by_goal[goal.goal_id])
        item = stored.progress.get(goal.goal_id)
        have = (item.total, int(item.activity_count)) if item else (Decimal(0), 0)
        if have != want:
            problems.append(f"goal {goal.goal_id}: progress {have}, activities add up to {want}")
        path = f"/api/v1/goals/{goal.goal_id}/progress"
        answer = user.phone.call("get_progress (check)", "GET", path)
        shown = None
        if answer.ok:
            shown = (Decimal(answer.body["total"]), int(answer.body["activity_count"]))
        if shown != want:
            problems.append(f"goal {goal.goal_id}: the API shows {shown}, activities add {want}")
    for key in sorted(set(stored.buckets) | set(by_period)):
        counts.buckets += 1
        want = add_up(by_period.get(key, []))
        bucket = stored.buckets.get(key)
        have = (bucket.total, int(bucket.activity_count)) if bucket else (Decimal(0), 0)
        if have != want:
            problems.append(f"bucket {key}: {have}, activities add up to {want}")
    return problems


def check_synced_copy(user: SimUser, stored: Stored, counts: CheckCounts) -> list[str]:
    """The phone's copy, built from delta sync pages alone, brought up to
    date once more, equals what is stored."""
    if not sync(user, "sync (check)"):
        return [f"{user.username}: the final sync failed"]
    counts.replicas += 1
    values = {activity_id: item.value for activity_id, item in stored.activities.items()}
    copy = {activity_id: value for activity_id, (_, value) in user.replica_activities.items()}
    problems = []
    if copy != values:
        missing, extra = set(values) - set(copy), set(copy) - set(values)
        changed = [key for key in set(copy) & set(values) if copy[key] != values[key]]
        problems.append(
            f"{user.username}'s synced copy differs from the store: {len(missing)} missing, "
            f"{len(extra)} extra, {len(changed)} with another value"
        )
    if user.replica_goals != stored.goal_ids:
        problems.append(f"{user.username}'s synced goals differ from the stored ones")
    return problems


def check_user(user: SimUser, counts: CheckCounts) -> list[str]:
    """Every way the store could disagree with what the user's devices were
    told, as messages; none when all holds."""
    stored = stored_state(user.user_id)
    counts.resends += user.resends
    return [
        *user.problems,
        *check_activities(user, stored.activities, counts),
        *check_totals(user, stored, counts),
        *check_synced_copy(user, stored, counts),
    ]


# --- The report ------------------------------------------------------------------


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    memory_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory_kb / 1024**2:.1f} GiB RAM, "
        f"{platform.system()} {platform.machine()}, Python {platform.python_version()}"
    )


def outcome_label(outcome: int | str) -> str:
    return f"`{outcome}`" if isinstance(outcome, int) else outcome


def latency_row(name: str, samples: list[tuple[str, int | str, float]], seconds: float) -> str:
    ms = sorted(sample[2] for sample in samples)
    limited = sum(outcome == 429 for _, outcome, _ in samples)
    errors = sum(is_error(outcome) and outcome != 429 for _, outcome, _ in samples)
    return (
        f"| {name} | {len(samples)} | {len(samples) / seconds:.1f} | {percentile(ms, 50):.0f} "
        f"| {percentile(ms, 95):.0f} | {percentile(ms, 99):.0f} | {ms[-1]:.0f} "
        f"| {errors} | {limited} |"
    )


@dataclass(frozen=True)
class RunShape:
    users: int
    seconds: float
    think: float
    read_limit: str
    write_limit: str
    server: ServerShape
    plain_moto: bool


def cpu_seconds(pid: int) -> float:
    """User and system CPU time so far of a process and its descendants
    (gunicorn's workers), from /proc; 0 for a process that is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(child)) for child in children)


def machine_busy_seconds() -> float:
    """CPU time spent so far by everything on the machine (all cores, not
    idle or waiting for I/O), from /proc/stat: shows whether other work
    shared the machine with the run."""
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass
class Measured:
    """The load phase: its requests, wall time and CPU seconds by process."""

    stats: Stats
    elapsed: float
    cpu: dict[str, float]
    machine_cpu: float = 0.0  # every process on the machine, the run's included


@contextmanager
def measuring(stats: Stats, pids: dict[str, int]) -> Iterator[Measured]:
    """Wall and CPU time of the block, for each named process and this one
    (the simulated clients)."""
    measured = Measured(stats, 0.0, {})
    started, client, busy = time.monotonic(), time.process_time(), machine_busy_seconds()
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    yield measured
    measured.elapsed = time.monotonic() - started
    measured.cpu = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    measured.cpu["the simulated clients"] = time.process_time() - client
    measured.machine_cpu = machine_busy_seconds() - busy


def render(shape: RunShape, measured: Measured, counts: CheckCounts, problems: list[str]) -> str:
    from django.conf import settings

    elapsed = measured.elapsed
    samples = measured.stats.snapshot()
    cpu = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in measured.cpu.items())
    per_request = ", ".join(
        f"{name} {seconds * 1000 / max(len(samples), 1):.1f} ms"
        for name, seconds in measured.cpu.items()
    )
    by_op: dict[str, list[tuple[str, int | str, float]]] = defaultdict(list)
    for sample in samples:
        by_op[sample[0]].append(sample)
    failed = Counter(outcome for _, outcome, _ in samples if is_error(outcome) and outcome != 429)
    limited = sum(outcome == 429 for _, outcome, _ in samples)
    lines = [
        f"### {shape.users} users for {shape.seconds:.0f} s ({datetime.now(UTC):%Y-%m-%d})",
        "",
        f"- Machine: {machine()}.",
        f"- AWS: moto {metadata.version('moto')}'s server in its own process on loopback, "
        + (
            "as shipped (requests run concurrently; a transaction copies the whole table)"
            if shape.plain_moto
            else "serving one request at a time, and a cancelled transaction undoing only its "
            "own items (see bench/load.py: moto as shipped loses writes under concurrency)"
        )
        + ": the latencies are this machine's and moto's, not AWS's.",
        f"- Server: gunicorn {metadata.version('gunicorn')}, {shape.server.workers} workers x "
        f"{shape.server.threads} threads (gthread), `lifestyle.settings.base`, botocore retry "
        f"mode `{settings.AWS_RETRY_MODE}` with {settings.AWS_MAX_ATTEMPTS} attempts.",
        f"- Load: {shape.users} users (a phone and a watch each), {shape.think:.1f} s on average "
        f"between actions, for {elapsed:.1f} s; per-user rate limits read "
        f"{shape.read_limit} s and write {shape.write_limit} s "
        "(`RATE_LIMIT_READ`, `RATE_LIMIT_WRITE`).",
        "",
        f"**{len(samples)} requests, {len(samples) / elapsed:.1f} requests/s.** CPU time "
        f"used meanwhile: {cpu}; by every process on the machine {measured.machine_cpu:.1f} s, "
        f"of {os.cpu_count()} x {elapsed:.0f} s. Per request: {per_request}.",
        "",
        "| operation | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | errors | 429 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(latency_row(op, by_op[op], elapsed) for op in sorted(by_op)),
        latency_row("**all**", samples, elapsed),
        "",
        "Errors by status (429 apart): "
        + (", ".join(f"{outcome_label(o)} x {n}" for o, n in failed.most_common()) or "none")
        + f". Rate limited (429): {limited}.",
        "",
    ]
    verdict = "**failed**" if problems else "passed"
    lines.append(
        f"Checks {verdict}: {counts.activities_present} acknowledged activities stored with "
        f"their values, {counts.activities_gone} acknowledged deletes gone, "
        f"{counts.activities_unknown} writes of unknown outcome consistent either way, no "
        f"activity stored that no device sent; {counts.goals} goals' progress and "
        f"{counts.buckets} daily buckets equal to the sum of their activities (the API's "
        f"progress too); {counts.replicas} synced copies equal to the store; {counts.resends} "
        "resent logs answered as replays."
    )
    lines += [f"- {problem}" for problem in problems[:20]]
    if len(problems) > 20:
        lines.append(f"- ... and {len(problems) - 20} more")
    return "\n".join(lines) + "\n"


def write_results(markdown: str, doc: Path = DOC) -> None:
    """Replace what is between the result markers, keeping the prose."""
    text = doc.read_text()
    if RESULTS_START not in text or RESULTS_END not in text:
        raise SystemExit(f"{doc} has no {RESULTS_START} ... {RESULTS_END} section")
    before, rest = text.split(RESULTS_START, 1)
    after = rest.split(RESULTS_END, 1)[1]
    doc.write_text(f"{before}{RESULTS_START}\n{markdown}{RESULTS_END}{after}")


# --- Main ------------------------------------------------------------------------


def start_phase(users: list[SimUser], stats: Stats, *, patient: bool = False) -> None:
    """Count the next phase's requests apart (setup and checks are not
    load); the checks' requests wait out rate limits."""
    for user in users:
        for device in (user.phone, user.watch):
            device.stats, device.patient = stats, patient


def server_errors(stats: Stats) -> list[str]:
    crashes = sum(outcome == 500 for _, outcome, _ in stats.snapshot())
    return [f"the API answered 500 (a bug) {crashes} times"] if crashes else []


def run(shape: RunShape, seed: int, every: float) -> tuple[str, list[str]]:
    with moto_process(plain=shape.plain_moto) as (endpoint, moto_pid):
        env = prepare_stack(endpoint)
        env.update(RATE_LIMIT_READ=shape.read_limit, RATE_LIMIT_WRITE=shape.write_limit)
        print(f"Creating {shape.users} users...", file=sys.stderr, flush=True)
        accounts = create_users(shape.users, env)
        with (
            tempfile.TemporaryDirectory() as scratch,
            gunicorn(env, shape.server, Path(scratch) / "gunicorn.log") as (base_url, api_pid),
        ):
            setup = Stats()
            users = [
                SimUser(
                    username=username,
                    user_id=user_id,
                    phone=Api(base_url, token, setup),
                    watch=Api(base_url, token, setup),
                    rng=random.Random(f"{seed}-{number}"),  # noqa: S311 (a simulation)
                )
                for number, (username, user_id, token) in enumerate(accounts)
            ]
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(create_goals, users))
            load = Stats()
            start_phase(users, load)
            print(
                f"Load: {shape.users} users for {shape.seconds:.0f} s against {base_url}",
                file=sys.stderr,
                flush=True,
            )
            with measuring(load, {"moto": moto_pid, "the API (gunicorn)": api_pid}) as measured:
                run_load(users, shape.seconds, shape.think, every)
            print("Checking what is stored...", file=sys.stderr, flush=True)
            start_phase(users, Stats(), patient=True)
            counts = CheckCounts()
            problems = [problem for user in users for problem in check_user(user, counts)]
            problems += server_errors(load)
    return render(shape, measured, counts, problems), problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--think", type=float, default=1.0, help="mean pause between actions")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 3 users, 0.1 s pauses, 3 s"
    )
    parser.add_argument("--write", action="store_true", help=f"put the results in {DOC.name}")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--read-limit", default="600/60", help="RATE_LIMIT_READ for the server")
    parser.add_argument("--write-limit", default="120/60", help="RATE_LIMIT_WRITE for the server")
    parser.add_argument(
        "--plain-moto",
        action="store_true",
        help="moto's server as shipped: concurrent requests, whole-table copies per "
        "transaction (it loses writes under this load)",
    )
    parser.add_argument("--serve-moto", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_moto:
        return serve_moto(plain=args.plain_moto)
    if args.users < 1 or args.seconds <= 0 or args.think < 0:
        parser.error("--users must be at least 1, --seconds above 0, --think not negative")
    if args.quick:
        args.users, args.seconds, args.think = 3, 3.0, 0.1
    shape = RunShape(
        users=args.users,
        seconds=args.seconds,
        think=args.think,
        read_limit=args.read_limit,
        write_limit=args.write_limit,
        server=ServerShape.for_this_machine(),
        plain_moto=args.plain_moto,
    )
    markdown, problems = run(shape, args.seed, every=1.0 if args.quick else 10.0)
    print(markdown)
    if args.write:
        write_results(markdown)
        print(f"Wrote the results into {DOC.relative_to(ROOT)}", file=sys.stderr)
    if problems:
        print(f"FAILED: {len(problems)} problems:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
