"""``make run``: the whole system on one machine, no AWS account.

1. starts moto's server on 127.0.0.1 (DynamoDB, S3 and Cognito over HTTP);
2. provisions it with ``manage.py provision``'s own code;
3. creates a demo user and a staff user and prints how to sign in;
4. writes the stack's coordinates to ``.local/stack.json`` for scripts and
   for ``manage.py`` commands in other terminals;
5. serves the API on http://127.0.0.1:8000 until Ctrl-C, then stops
   everything it started and removes the stack file.

``python -m lifestyle.local smoke`` runs the smoke test against it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STACK_FILE = Path(os.environ.get("LOCAL_STACK_FILE", ROOT / ".local" / "stack.json"))

HOST = "127.0.0.1"
API_PORT = int(os.environ.get("LOCAL_API_PORT", "8000"))
AWS_PORT = int(os.environ.get("LOCAL_AWS_PORT", "4566"))
REGION = "us-east-1"

# Local stand-ins only: moto keeps everything in memory and forgets it on
# exit, so these are demo credentials, not secrets.
DEMO = {"username": "demo", "password": "Demo-lifestyle-2026", "email": "demo@example.com"}
STAFF = {"username": "staff", "password": "Staff-lifestyle-2026", "email": "staff@example.com"}

LOCAL_ENV = {
    "DJANGO_SETTINGS_MODULE": "lifestyle.settings.local",
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "DYNAMODB_TABLE": "ai-lifestyle-app-goals-local",
    "AWS_STORAGE_BUCKET_NAME": "ai-lifestyle-app-attachments-local",
    "COGNITO_USER_POOL_NAME": "ai-lifestyle-app-users-local",
}


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _fail(message: str) -> int:
    print(f"make run: {message}", file=sys.stderr)
    return 1


def _stop_on_sigterm() -> None:
    """``kill`` (SIGTERM) cleans up like Ctrl-C does."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def run() -> int:
    _stop_on_sigterm()
    for port, what, variable in ((AWS_PORT, "AWS stand-in", "LOCAL_AWS_PORT"),
                                 (API_PORT, "API", "LOCAL_API_PORT")):  # fmt: skip
        if not _port_free(port):
            return _fail(
                f"port {port} (for the {what}) is in use: stop what holds it "
                f"(an earlier 'make run'?) or set {variable}."
            )
    STACK_FILE.unlink(missing_ok=True)  # describes a stack that is gone

    from lifestyle.local_aws import start_moto_server

    print(f"Starting moto's server on {HOST}:{AWS_PORT} (DynamoDB, S3, Cognito)...")
    server, endpoint = start_moto_server(AWS_PORT)
    try:
        return _serve(endpoint)
    finally:
        server.stop()
        STACK_FILE.unlink(missing_ok=True)
        print("Stopped the API and the AWS stand-in.")


def _serve(endpoint: str) -> int:
    os.environ.update(LOCAL_ENV, AWS_ENDPOINT_URL=endpoint)
    import django

    django.setup()
    from django.conf import settings

    from lifestyle.provisioning import ensure_user, provision

    print("Provisioning (manage.py provision):")
    stack = provision(report=lambda line: print(f"  {line}"))
    for user, groups in ((DEMO, ()), (STAFF, settings.STAFF_GROUPS)):
        ensure_user(
            stack.user_pool_id,
            username=user["username"],
            password=user["password"],
            email=user["email"],
            groups=groups,
        )

    api_url = f"http://{HOST}:{API_PORT}"
    coordinates: dict[str, Any] = {
        "api_url": api_url,
        "aws_endpoint_url": endpoint,
        "region": REGION,
        "user_pool_id": stack.user_pool_id,
        "app_client_id": stack.app_client_id,
        "table": stack.table,
        "bucket": stack.bucket,
        "demo": {"username": DEMO["username"], "password": DEMO["password"]},
        "staff": {"username": STAFF["username"], "password": STAFF["password"]},
    }
    STACK_FILE.parent.mkdir(exist_ok=True)
    STACK_FILE.write_text(json.dumps(coordinates, indent=2) + "\n")
    _banner(coordinates)

    env = {
        **os.environ,
        "COGNITO_USER_POOL_ID": stack.user_pool_id,
        "COGNITO_APP_CLIENT_ID": stack.app_client_id,
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, str(ROOT / "manage.py"), "runserver", f"{HOST}:{API_PORT}"]
    if os.environ.get("LOCAL_API_RELOAD", "1") == "0":
        command.append("--noreload")  # for scripts: no restart when a file changes
    api = subprocess.Popen(command, env=env, cwd=ROOT)  # noqa: S603 (our own manage.py)
    try:
        return api.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if api.poll() is None:
            api.terminate()
            try:
                api.wait(timeout=10)
            except subprocess.TimeoutExpired:
                api.kill()


def _banner(stack: dict[str, Any]) -> None:
    demo, staff = stack["demo"], stack["staff"]
    print(f"""
Lifestyle is running locally.
  API          {stack["api_url"]}/api/v1/   (docs: {stack["api_url"]}/api/v1/docs/)
  Console      {stack["api_url"]}/ops/   (sign in as the staff user)
  AWS (moto)   {stack["aws_endpoint_url"]}
  User pool    {stack["user_pool_id"]}   app client {stack["app_client_id"]}
  Demo user    {demo["username"]} / {demo["password"]}
  Staff user   {staff["username"]} / {staff["password"]}   (groups ops-support, ops-admin)
  Coordinates  {STACK_FILE}

Get a token (in another terminal, from this folder):
  TOKEN=$(.venv/bin/python manage.py get_token \\
      --username {demo["username"]} --password {demo["password"]})
  curl -H "Authorization: Bearer $TOKEN" {stack["api_url"]}/api/v1/goals

Ctrl-C stops everything.
""")


def smoke() -> int:
    """The post-deployment smoke test, against the stack ``make run`` started."""
    try:
        stack = json.loads(STACK_FILE.read_text())
    except (OSError, ValueError):
        return _fail("no local stack is running: start it with 'make run' first.")
    command = [
        sys.executable, str(ROOT / "manage.py"), "smoke_test",
        "--base-url", stack["api_url"],
        "--username", stack["demo"]["username"],
        "--password", stack["demo"]["password"],
    ]  # fmt: skip
    return subprocess.call(command, cwd=ROOT)  # noqa: S603 (our own manage.py)


def main(argv: list[str]) -> int:
    if argv == ["smoke"]:
        return smoke()
    if argv:
        return _fail(f"unknown arguments {argv}; use no arguments, or 'smoke'.")
    return run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
