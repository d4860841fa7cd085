"""The API through Zappa's Lambda handler, as API Gateway delivers it.

Every request is an API Gateway event (REST API payload 1.0 and HTTP API
payload 2.0) handed to ``zappa.handler.lambda_handler``, served by the
real app against moto. The stage prefix (``/dev``) must appear in every
URL the app builds when the client used the execute-api host, and never
on a custom domain.
"""

from __future__ import annotations

import json
import platform
import re
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import quote, urljoin, urlsplit

import pytest
from django.contrib.staticfiles import finders
from django.core.management import CommandError
from zappa.core import Zappa
from zappa.handler import keep_warm_callback

from goals import services
from tests.conftest import User, assert_error
from tests.lambda_handler.conftest import (
    ACCOUNT,
    API_ID,
    GATEWAYS,
    REGION,
    STAGE,
    Gateway,
    Reply,
    dev_stage,
    invoke,
    lambda_context,
    warm_handler,
)

GOALS = "/api/v1/goals"
LIMIT = 64 * 1024


def assert_json(reply: Reply, status: int) -> Any:
    assert reply.status_code == status, reply.content
    assert reply.content_type == "application/json"
    assert not reply.base64_encoded  # JSON is text: API Gateway passes it as is
    return reply.json()


def create_goal(gateway: Gateway, user: User, **fields: Any) -> Reply:
    reply = gateway.post_json(GOALS, user, {"title": "Walk", "kind": "habit", **fields})
    assert_json(reply, 201)
    return reply


# --- Requests ---------------------------------------------------------------------


def test_authenticated_get_lists_the_users_goals(gateway: Gateway, user: User) -> None:
    goal, _ = services.goal_create(user_id=user.user_id, title="Swim", kind="habit")

    body = assert_json(gateway.get(GOALS, user), 200)

    assert [item["id"] for item in body["items"]] == [goal.goal_id]
    assert body["next_cursor"] is None


@pytest.mark.parametrize(
    ("name", "base_url"),
    [
        ("rest", "https://abc123.execute-api.us-east-1.amazonaws.com/dev"),
        ("http", "https://abc123.execute-api.us-east-1.amazonaws.com/dev"),
        ("http-default-stage", "https://abc123.execute-api.us-east-1.amazonaws.com"),
        ("rest-custom-domain", "https://api.lifestyle.example"),
        ("http-custom-domain", "https://api.lifestyle.example"),
    ],
)
def test_created_goal_location_has_the_stage_only_on_execute_api_and_can_be_followed(
    name: str, base_url: str, user: User
) -> None:
    gateway = GATEWAYS[name]
    created = create_goal(gateway, user, title="Läuft 🏃")
    goal_id = created.json()["id"]

    assert created["Location"] == f"{base_url}/api/v1/goals/{goal_id}"
    followed = gateway.send("GET", created["Location"], token=user.access_token)
    assert assert_json(followed, 200) == created.json()
    assert followed["ETag"] == created["ETag"]


def test_query_string_filters_and_pages(gateway: Gateway, user: User) -> None:
    active = {create_goal(gateway, user, title=f"Goal {n}").json()["id"] for n in range(2)}
    archived = create_goal(gateway, user, title="Old").json()["id"]
    assert_json(gateway.post_json(f"{GOALS}/{archived}/archive", user, None), 200)

    pages: list[list[dict[str, Any]]] = []
    cursor: dict[str, str] = {}
    for _ in range(5):  # a filtered page may be empty: follow the cursor to its end
        body = assert_json(gateway.get(GOALS, user, status="active", limit="1", **cursor), 200)
        pages.append(body["items"])
        if body["next_cursor"] is None:
            break
        cursor = {"cursor": body["next_cursor"]}

    assert body["next_cursor"] is None
    assert len(pages) >= 2
    assert all(len(items) <= 1 for items in pages)
    assert [item["id"] for items in pages for item in items] == sorted(active, reverse=True)


def test_repeated_query_parameter_means_what_it_means_over_http(
    gateway: Gateway, user: User
) -> None:
    """A REST API passes ``?status=archived&status=active`` in
    multiValueQueryStringParameters; Django takes the last value, as it does
    for the same query string sent straight to it."""
    active = create_goal(gateway, user).json()["id"]
    archived = create_goal(gateway, user).json()["id"]
    services.goal_archive(user_id=user.user_id, goal_id=archived)
    query = [("status", "archived"), ("status", "active")]

    reply = gateway.send("GET", gateway.url(GOALS, query), token=user.access_token)

    body = assert_json(reply, 200)
    assert [item["id"] for item in body["items"]] == [active]
    assert body == user.client().get(f"{GOALS}?status=archived&status=active").json()


def test_path_parameters_reach_activities_and_progress(gateway: Gateway, user: User) -> None:
    goal_id = create_goal(gateway, user).json()["id"]
    occurred_at = datetime.now(UTC).isoformat()

    logged = gateway.post_json(
        f"{GOALS}/{goal_id}/activities", user, {"occurred_at": occurred_at, "note": "Park"}
    )

    activity = assert_json(logged, 201)
    assert logged["Location"] == gateway.url(f"/api/v1/activities/{activity['id']}")
    followed = gateway.send("GET", logged["Location"], token=user.access_token)
    assert assert_json(followed, 200)["goal_id"] == goal_id
    listed = assert_json(gateway.get(f"{GOALS}/{goal_id}/activities", user), 200)
    assert [item["id"] for item in listed["items"]] == [activity["id"]]
    progress = assert_json(gateway.get(f"{GOALS}/{goal_id}/progress", user), 200)
    assert (progress["goal_id"], progress["activity_count"]) == (goal_id, 1)


def test_the_batch_route_keeps_its_colon_and_sync_its_cursor(gateway: Gateway, user: User) -> None:
    """``activities:batch`` has a colon in its path and a sync cursor holds
    ``:`` and ``=``: both arrive through API Gateway's events unharmed."""
    goal_id = create_goal(gateway, user).json()["id"]
    item = {
        "id": str(uuid.uuid4()),
        "goal_id": goal_id,
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    batch = assert_json(
        gateway.post_json("/api/v1/activities:batch", user, {"activities": [item]}), 200
    )
    assert [result["status"] for result in batch["results"]] == ["created"]

    first = assert_json(gateway.get("/api/v1/sync", user), 200)
    assert [activity["id"] for activity in first["activities"]] == [item["id"]]
    again = assert_json(gateway.get(f"/api/v1/sync?cursor={quote(first['cursor'])}", user), 200)
    assert again["snapshot"] is False


@pytest.mark.parametrize("encode", [True, False], ids=["base64", "plain"])
def test_json_body_arrives_whether_or_not_base64_encoded(
    gateway: Gateway, user: User, encode: bool
) -> None:
    body = {"title": "Lire 📚 à Zürich", "kind": "amount", "unit": "km", "target": "12.5"}
    raw = json.dumps(body, ensure_ascii=False).encode()

    reply = gateway.post(GOALS, user, raw, "application/json; charset=utf-8", encode=encode)

    created = assert_json(reply, 201)
    assert {name: created[name] for name in body} == body


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b'{"title": "Walk", "kind": "habit"}'),
        ("application/x-www-form-urlencoded", b"title=Walk&kind=habit"),
        ("image/png", b"\x89PNG\r\n\x1a\n" + bytes(range(256))),
    ],
    ids=["text", "form", "binary"],
)
def test_non_json_body_is_415(gateway: Gateway, user: User, content_type: str, body: bytes) -> None:
    reply = gateway.post(GOALS, user, body, content_type)

    assert_error(reply, 415, "unsupported_media_type")


def test_body_over_64_kib_is_413(gateway: Gateway, user: User) -> None:
    body = json.dumps({"title": "x" * LIMIT, "kind": "habit"}).encode()

    reply = gateway.post(GOALS, user, body, "application/json")

    assert_error(reply, 413, "payload_too_large")


def test_missing_token_is_401_with_www_authenticate(gateway: Gateway) -> None:
    reply = gateway.get(GOALS)

    assert_error(reply, 401, "not_authenticated")
    assert reply["WWW-Authenticate"] == 'Bearer realm="lifestyle"'


# --- Errors are JSON -------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """A request that must fail; by default a signed-in ``GET /api/v1/goals``."""

    method: str = "GET"
    path: str = GOALS
    query: tuple[tuple[str, str], ...] = ()
    accept: str = "application/json"
    host: str | None = None
    signed_in: bool = True
    bug: bool = False  # the view raises an unexpected exception


ERROR_CASES = {
    "unknown-route": (Call(path="/api/v1/nope"), 404, "not_found"),
    "root": (Call(path="/", signed_in=False), 404, "not_found"),
    "unknown-goal": (Call(path=f"{GOALS}/01M8G9ZAGPFDZKZ6WBJT06N2JF"), 404, "not_found"),
    "bad-query": (Call(query=(("limit", "0"),)), 400, "validation_error"),
    "wrong-method": (Call(method="DELETE"), 405, "method_not_allowed"),
    "asks-for-html": (Call(accept="text/html"), 406, "not_acceptable"),
    "other-region-host": (Call(host=f"{API_ID}.execute-api.eu-west-1.amazonaws.com"), 400,
                          "bad_request"),
    "server-error": (Call(bug=True), 500, "server_error"),
}  # fmt: skip


@pytest.mark.parametrize("case", ERROR_CASES)
def test_errors_are_json_never_html(gateway: Gateway, user: User, case: str) -> None:
    call, status, code = ERROR_CASES[case]
    if call.host:
        gateway = replace(gateway, host=call.host)
    failure = RuntimeError("a bug")
    broken = mock.patch("goals.selectors.goal_list", side_effect=failure)

    with broken if call.bug else nullcontext():
        reply = gateway.send(
            call.method,
            gateway.url(call.path, list(call.query)),
            token=user.access_token if call.signed_in else None,
            accept=call.accept,
        )

    assert_error(reply, status, code)
    assert b"<html" not in reply.content.lower()


# --- The URLs the docs page and the schema give a browser ---------------------

LINK = re.compile(r'(?:href|src)="([^"]+)"|url: "([^"]+)"')


@pytest.mark.parametrize("name", GATEWAYS)
def test_docs_page_links_carry_the_stage_and_resolve(name: str) -> None:
    """Swagger UI's page links its script, styles, icon and the schema: from
    the execute-api host each must be under /dev, or API Gateway answers 403."""
    gateway = GATEWAYS[name]
    page_url = gateway.url("/api/v1/docs/")
    page = gateway.send("GET", page_url, accept="text/html")
    assert page.status_code == 200
    assert page.content_type.startswith("text/html")
    links = [a or b for a, b in LINK.findall(page.content.decode())]
    assert len(links) == 5, links

    stage_path = urlsplit(gateway.base_url).path + "/"
    assert [link for link in links if not link.startswith(stage_path)] == []
    replies = {link: gateway.send("GET", urljoin(page_url, link), accept="*/*") for link in links}
    assert {link: reply.status_code for link, reply in replies.items()} == dict.fromkeys(links, 200)
    icon = next(link for link in links if link.endswith(".png"))
    assert replies[icon].base64_encoded  # binary goes through API Gateway as base64, intact
    assert replies[icon].content == Path(str(finders.find(icon.split("/static/")[1]))).read_bytes()


@pytest.mark.parametrize("name", GATEWAYS)
def test_schema_server_is_where_the_page_was_served(name: str) -> None:
    """Swagger UI's "Try it out" calls the schema's server (``/`` of the
    schema's host when none is given): from the execute-api host it must be
    the stage."""
    gateway = GATEWAYS[name]
    schema_url = gateway.url("/api/v1/schema/")
    reply = gateway.send("GET", schema_url, accept="application/vnd.oai.openapi+json")
    assert reply.status_code == 200
    servers = reply.json().get("servers") or [{"url": "/"}]

    server = urljoin(schema_url, servers[0]["url"]).rstrip("/")

    assert server == gateway.base_url
    assert_json(gateway.send("GET", server + "/api/v1/health"), 200)


# --- Events that are not HTTP requests ------------------------------------------

KEEP_WARM_RULE = Zappa.get_event_name(
    f"{dev_stage()['project_name']}-{STAGE}", "zappa-keep-warm-handler.keep_warm_callback"
)
KEEP_WARM_EVENT = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": ACCOUNT,
    "time": "2026-11-28T12:00:00Z",
    "region": REGION,
    "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{KEEP_WARM_RULE}"],
    "detail": {},
}


@pytest.mark.parametrize(
    "warm",
    [
        lambda: invoke(KEEP_WARM_EVENT),
        lambda: keep_warm_callback(KEEP_WARM_EVENT, lambda_context()),
    ],
    ids=["scheduled-event", "keep_warm_callback"],
)
def test_keep_warm_loads_the_app_without_touching_aws(
    warm: Callable[[], Any], aws_calls: Counter[str]
) -> None:
    assert warm_handler() is None

    assert warm() is None

    assert warm_handler().wsgi_app is not None  # Django is loaded: the container is warm
    assert aws_calls == Counter()


def test_manage_event_runs_provision_against_aws(
    aws_stack: dict[str, str], aws_calls: Counter[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``zappa manage dev provision``: the runbook's operations run this way."""
    assert invoke({"manage": "provision"}) == {}

    out = capsys.readouterr().out
    assert "Provisioned." in out
    assert f"COGNITO_USER_POOL_ID={aws_stack['user_pool_id']}" in out
    assert aws_calls["dynamodb.DescribeTable"] >= 1
    assert not [call for call in aws_calls if ".Create" in call]  # all there already


def test_manage_event_passes_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert invoke({"manage": "check --tag urls --fail-level WARNING"}) == {}

    assert "System check identified no issues" in capsys.readouterr().out


def test_manage_event_with_unknown_command_fails_the_invocation() -> None:
    with pytest.raises(CommandError, match="Unknown command"):
        invoke({"manage": "no_such_command"})


def test_command_event_runs_the_named_function() -> None:
    """``zappa invoke dev module.function``: any importable function runs."""
    assert invoke({"command": "platform.python_version"}) == platform.python_version()


def test_command_event_with_unknown_function_fails_the_invocation() -> None:
    with pytest.raises(ModuleNotFoundError):
        invoke({"command": "lifestyle.no_such_module.run"})
