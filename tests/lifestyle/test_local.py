"""``make run``'s program, run as a newcomer would: it comes up, writes the
stack file, serves the README's walkthrough, and Ctrl-C stops everything."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(path: Path, process: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"make run did not come up:\n{process.communicate()[0]}")
        time.sleep(0.2)


def _run_walkthrough(api_url: str, env: dict[str, str]) -> str:
    """The README's walkthrough block, as written, but for the stack's port."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- walkthrough:start -->")[1].split("<!-- walkthrough:end -->")[0]
    script = block.strip().removeprefix("```bash").removesuffix("```")
    script = script.replace("http://127.0.0.1:8000", api_url)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def _check_walkthrough_output(output: str) -> None:
    bodies = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    (created, fetched, active, updated, stale, logged, replayed, progress,
     upload, confirmed, attachments, archived, listed, unarchived,
     profile, snapshot, batch, delta, export, ready) = bodies  # fmt: skip
    assert created["id"] == fetched["id"] == "1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b"
    assert isinstance(active["items"], list)
    assert (updated["title"], updated["target"]) == ("Run 120 km this month", "120")
    assert stale["error"]["code"] == "precondition_failed"
    assert replayed == logged
    assert Decimal(progress["current_period"]["value"]) >= Decimal("12.5")
    assert progress["last_activity_at"] == logged["occurred_at"]
    assert confirmed["status"] == "ready"
    assert [item["id"] for item in attachments["items"]] == [upload["id"]]
    assert "S3 answered <Response [204]>" in output
    assert archived["status"] == "archived"
    assert created["id"] in [goal["id"] for goal in listed["items"]]
    assert unarchived["status"] == "active"
    assert (profile["timezone"], profile["day_start_hour"]) == ("Europe/Paris", 4)
    assert snapshot["snapshot"] is True
    assert created["id"] in [goal["id"] for goal in snapshot["goals"]]
    assert logged["id"] in [activity["id"] for activity in snapshot["activities"]]
    assert [item["status"] for item in batch["results"]] == ["created", "duplicate", "error"]
    assert batch["results"][1]["activity"]["id"] == logged["id"]
    assert batch["results"][2]["error"]["fields"] == {"value": ["Must be greater than zero."]}
    offline = batch["results"][0]["id"]
    assert delta["snapshot"] is False
    # (The first run's deletion may come again on the second: the last
    # seconds before a cursor are sent twice, see sync/selectors.py.)
    assert offline in [gone["id"] for gone in delta["deleted"]]
    assert offline not in [activity["id"] for activity in delta["activities"]]
    assert export["status"] == "ready"  # locally the export runs before the POST answers
    assert (ready["id"], ready["status"]) == (export["id"], "ready")
    assert ready["counts"]["goals"] >= 1
    for name in ("README.txt", "profile.json", "goals.json", "activities.json"):
        assert f"{name} " in output  # listed by python -m zipfile -l


@pytest.mark.e2e
def test_make_run_serves_the_walkthrough_and_stops_cleanly(tmp_path: Path) -> None:
    stack_file = tmp_path / "stack.json"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "COGNITO_", "DJANGO_", "DYNAMODB_"))
    }
    env.update(
        LOCAL_STACK_FILE=str(stack_file),
        LOCAL_API_PORT=str(_free_port()),
        LOCAL_AWS_PORT=str(_free_port()),
        LOCAL_API_RELOAD="0",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "lifestyle.local"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for(stack_file, process)
        stack = json.loads(stack_file.read_text())
        assert set(stack) >= {
            "api_url", "aws_endpoint_url", "region", "user_pool_id", "app_client_id",
            "table", "bucket", "demo", "staff",
        }  # fmt: skip
        for _ in range(100):  # runserver starts after the file is written
            try:
                requests.get(f"{stack['api_url']}/api/v1/health", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        for _ in range(2):  # verbatim, twice in a row against the same stack
            _check_walkthrough_output(_run_walkthrough(stack["api_url"], env))
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "Stopped the API and the AWS stand-in." in output
    assert "Demo-lifestyle-2026" in output  # the banner shows how to sign in
    assert not stack_file.exists()
