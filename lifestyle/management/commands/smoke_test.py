"""The runbook's post-deployment smoke test, over HTTP like a mobile client."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from lifestyle.provisioning import sign_in


class SmokeFailure(Exception):
    pass


class Client:
    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.token = ""

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 (the operator's own --base-url)
            self.base_url + path, data=data, method=method
        )
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return response.status, dict(response.headers), _json(response.read())
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), _json(error.read())
        except (urllib.error.URLError, TimeoutError) as error:
            raise SmokeFailure(f"cannot reach {self.base_url}: {error}") from None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw[:200].decode(errors="replace")


def expect(status: int, wanted: int, body: Any) -> None:
    if status != wanted:
        raise SmokeFailure(f"expected HTTP {wanted}, got {status}: {body}")


class Command(BaseCommand):
    help = (
        "Post-deployment smoke test: signs in through Cognito, then creates, reads, lists and "
        "updates a goal, logs an activity against it, reads its progress and archives it, "
        "over HTTP. One line per step; exits non-zero on the first failure."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:8000")
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")

    def handle(self, *args: Any, **options: Any) -> None:
        client = Client(options["base_url"], options["timeout"])
        state: dict[str, Any] = {"id": str(uuid.uuid4())}
        steps: list[tuple[str, Callable[[], str]]] = [
            ("health", lambda: self.health(client)),
            ("sign in", lambda: self.sign_in(client, options["username"], options["password"])),
            ("create goal", lambda: self.create(client, state)),
            ("get goal", lambda: self.get(client, state)),
            ("list goals", lambda: self.list(client, state)),
            ("update goal", lambda: self.update(client, state)),
            ("log activity", lambda: self.log_activity(client, state)),
            ("get progress", lambda: self.progress(client, state)),
            ("archive goal", lambda: self.archive(client, state)),
        ]
        for name, step in steps:
            started = time.monotonic()
            try:
                detail = step()
            except SmokeFailure as failure:
                self.stdout.write(self.style.ERROR(f"FAIL  {name}: {failure}"))
                raise CommandError(f"smoke test failed at '{name}'") from None
            elapsed = (time.monotonic() - started) * 1000
            self.stdout.write(f"ok    {name:<13} {elapsed:7.1f} ms  {detail}")
        self.stdout.write(self.style.SUCCESS(f"Smoke test passed ({len(steps)} steps)."))

    def health(self, client: Client) -> str:
        status, _, body = client.call("GET", "/api/v1/health")
        expect(status, 200, body)
        return f"status={body.get('status')}"

    def sign_in(self, client: Client, username: str, password: str) -> str:
        if not settings.COGNITO_APP_CLIENT_ID:
            raise SmokeFailure("COGNITO_APP_CLIENT_ID is not set")
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            client.token = sign_in(settings.COGNITO_APP_CLIENT_ID, username, password)[
                "AccessToken"
            ]
        except ClientError as error:
            raise SmokeFailure(f"Cognito refused: {error.response['Error']['Code']}") from None
        except BotoCoreError as error:
            raise SmokeFailure(f"Cognito unreachable: {error}") from None
        return f"as {username}"

    def create(self, client: Client, state: dict[str, Any]) -> str:
        goal = {
            "id": state["id"],
            "title": f"Smoke test {time.strftime('%Y-%m-%d %H:%M:%S')}",
            "kind": "amount",
            "target": "42.195",
            "unit": "km",
            "period": "none",
        }
        status, _, body = client.call("POST", "/api/v1/goals", goal)
        expect(status, 201, body)
        if body.get("id") != state["id"]:
            raise SmokeFailure(f"created goal has id {body.get('id')}, sent {state['id']}")
        return f"id={state['id']}"

    def get(self, client: Client, state: dict[str, Any]) -> str:
        status, headers, body = client.call("GET", f"/api/v1/goals/{state['id']}")
        expect(status, 200, body)
        state["etag"] = headers.get("ETag")
        if not state["etag"] or body.get("target") != "42.195":
            raise SmokeFailure(f"unexpected goal: etag={state['etag']} body={body}")
        return f"etag={state['etag']}"

    def list(self, client: Client, state: dict[str, Any]) -> str:
        path, pages = "/api/v1/goals?status=active&limit=100", 0
        while path and pages < 50:
            status, _, body = client.call("GET", path)
            expect(status, 200, body)
            pages += 1
            if any(goal.get("id") == state["id"] for goal in body.get("items", [])):
                return f"found in page {pages}"
            cursor = body.get("next_cursor")
            path = f"/api/v1/goals?status=active&limit=100&cursor={cursor}" if cursor else ""
        raise SmokeFailure("the new goal is not in the list")

    def update(self, client: Client, state: dict[str, Any]) -> str:
        change = {"title": "Smoke test (updated)"}
        status, headers, body = client.call(
            "PATCH", f"/api/v1/goals/{state['id']}", change, {"If-Match": state["etag"]}
        )
        expect(status, 200, body)
        if body.get("title") != change["title"] or headers.get("ETag") == state["etag"]:
            raise SmokeFailure(f"update not applied: {body}")
        return f"etag={headers.get('ETag')}"

    def log_activity(self, client: Client, state: dict[str, Any]) -> str:
        activity = {
            "id": str(uuid.uuid4()),
            "value": "5.5",
            "occurred_at": datetime.now(UTC).isoformat(),
            "note": "smoke test",
        }
        for attempt in ("first", "retry"):  # a retried request must count once
            status, _, body = client.call(
                "POST", f"/api/v1/goals/{state['id']}/activities", activity
            )
            expect(status, 201, body)
            if body.get("id") != activity["id"]:
                raise SmokeFailure(f"{attempt}: activity has id {body.get('id')}")
        return f"id={activity['id']} (sent twice)"

    def progress(self, client: Client, state: dict[str, Any]) -> str:
        status, _, body = client.call("GET", f"/api/v1/goals/{state['id']}/progress")
        expect(status, 200, body)
        if body.get("total") != "5.5" or body.get("activity_count") != 1:
            raise SmokeFailure(f"expected one activity totalling 5.5: {body}")
        return f"total={body['total']} percent={body.get('percent')}"

    def archive(self, client: Client, state: dict[str, Any]) -> str:
        status, _, body = client.call("POST", f"/api/v1/goals/{state['id']}/archive")
        expect(status, 200, body)
        if body.get("status") != "archived":
            raise SmokeFailure(f"goal not archived: {body}")
        return "status=archived"
