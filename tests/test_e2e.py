"""End to end over real HTTP: moto's server is AWS, Django's live server is
the API, and the client is a plain HTTP client holding a token that Cognito
issued through InitiateAuth. The API fetches the pool's JWKS over HTTP."""

from __future__ import annotations

import uuid

import pytest
import requests
from django.core.management import call_command

from lifestyle.auth import token_verifier
from lifestyle.provisioning import sign_in
from tests.conftest import User

pytestmark = pytest.mark.e2e


def test_goal_lifecycle_over_http(live_url: str, user: User, aws_stack: dict[str, str]) -> None:
    token_verifier.cache_clear()  # the JWKS must come over HTTP in this test
    tokens = sign_in(aws_stack["app_client_id"], user.username, user.password)
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {tokens['IdToken']}"
    goal_id = str(uuid.uuid4())

    created = http.post(
        f"{live_url}/api/v1/goals",
        json={"id": goal_id, "title": "Read 20 books", "kind": "count", "target": 20},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == f"{live_url}/api/v1/goals/{goal_id}"

    fetched = http.get(created.headers["Location"], timeout=10)
    assert fetched.status_code == 200
    assert fetched.json()["target"] == "20"
    assert fetched.headers["ETag"] == '"1"'

    archived = http.post(f"{live_url}/api/v1/goals/{goal_id}/archive", timeout=10)
    assert archived.status_code == 200
    assert archived.json()["status"] == "archived"

    listed = http.get(f"{live_url}/api/v1/goals", params={"status": "archived"}, timeout=10)
    assert [goal["id"] for goal in listed.json()["items"]] == [goal_id]

    refused = requests.get(f"{live_url}/api/v1/goals", timeout=10)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")


def test_smoke_test_command_passes_against_a_live_server(
    live_url: str, user: User, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("smoke_test", base_url=live_url, username=user.username, password=user.password)
    lines = capsys.readouterr().out.splitlines()
    steps = [line.split()[1] for line in lines if line.startswith("ok")]
    assert steps == ["health", "sign", "create", "get", "list", "update", "log", "get", "archive"]
    assert "Smoke test passed" in lines[-1]


def test_smoke_test_command_fails_on_first_failure(
    live_url: str, user: User, capsys: pytest.CaptureFixture[str]
) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="sign in"):
        call_command("smoke_test", base_url=live_url, username=user.username, password="wrong-1A")
    output = capsys.readouterr().out
    assert "ok    health" in output
    assert "FAIL  sign in" in output
    assert "create goal" not in output


def test_smoke_test_command_reports_an_unreachable_api(capsys: pytest.CaptureFixture[str]) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="health"):
        call_command(
            "smoke_test", base_url="http://127.0.0.1:1", username="u", password="p", timeout=2
        )
    assert "FAIL  health: cannot reach" in capsys.readouterr().out
