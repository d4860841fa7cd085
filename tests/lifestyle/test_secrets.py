"""Secrets Manager at cold start (lifestyle.secrets), against moto's server:
fetched once per process, never over a variable already set, refused
clearly when malformed, never logged, and read by the real settings module
in a fresh process before it needs DJANGO_SECRET_KEY."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from lifestyle import secrets
from lifestyle.secrets import SecretError, load_secrets

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
MARKER = "s3cr3t-value-that-must-never-show"


@pytest.fixture(autouse=True)
def _fresh_process_cache() -> Iterator[None]:
    secrets.forget()
    yield
    secrets.forget()


@pytest.fixture
def secretsmanager(moto_endpoint: str) -> Any:
    return boto3.session.Session().client(
        "secretsmanager", region_name=REGION, endpoint_url=moto_endpoint
    )


@pytest.fixture
def make_secret(secretsmanager: Any) -> Any:
    def make(value: str | bytes) -> str:
        name = f"ai-lifestyle-app/test-{uuid.uuid4().hex[:12]}"
        if isinstance(value, bytes):
            secretsmanager.create_secret(Name=name, SecretBinary=value)
        else:
            secretsmanager.create_secret(Name=name, SecretString=value)
        return name

    return make


def environ(endpoint: str, secret_id: str, **variables: str) -> dict[str, str]:
    return {
        "LIFESTYLE_SECRET_ID": secret_id,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        **variables,
    }


def test_sets_the_variables_the_secret_holds(make_secret: Any, moto_endpoint: str) -> None:
    secret = make_secret(
        json.dumps({"DJANGO_SECRET_KEY": MARKER, "COGNITO_USER_POOL_ID": "us-east-1_Abc"})
    )
    env = environ(moto_endpoint, secret)

    assert load_secrets(env) == ["COGNITO_USER_POOL_ID", "DJANGO_SECRET_KEY"]
    assert env["DJANGO_SECRET_KEY"] == MARKER
    assert env["COGNITO_USER_POOL_ID"] == "us-east-1_Abc"


def test_fetches_once_per_process(
    make_secret: Any, moto_endpoint: str, aws_calls: Counter[str]
) -> None:
    secret = make_secret(json.dumps({"DJANGO_SECRET_KEY": MARKER}))
    first, second = environ(moto_endpoint, secret), environ(moto_endpoint, secret)

    load_secrets(first)
    load_secrets(second)  # a second settings import, another thread...

    assert aws_calls["secretsmanager.GetSecretValue"] == 1
    assert first["DJANGO_SECRET_KEY"] == second["DJANGO_SECRET_KEY"] == MARKER


def test_variables_already_set_win(make_secret: Any, moto_endpoint: str) -> None:
    secret = make_secret(json.dumps({"DJANGO_SECRET_KEY": MARKER, "LOG_LEVEL": "DEBUG"}))
    env = environ(moto_endpoint, secret, DJANGO_SECRET_KEY="set-by-hand", LOG_LEVEL="")

    # An empty variable counts as unset, as everywhere in lifestyle.env.
    assert load_secrets(env) == ["LOG_LEVEL"]
    assert env["DJANGO_SECRET_KEY"] == "set-by-hand"
    assert env["LOG_LEVEL"] == "DEBUG"


def test_without_a_secret_id_nothing_is_fetched(aws_calls: Counter[str]) -> None:
    env = {"AWS_REGION": REGION, "LIFESTYLE_SECRET_ID": "  "}

    assert load_secrets(env) == []
    assert env == {"AWS_REGION": REGION, "LIFESTYLE_SECRET_ID": "  "}
    assert not aws_calls


def test_skips_names_that_are_not_environment_variables(
    make_secret: Any, moto_endpoint: str
) -> None:
    secret = make_secret(
        json.dumps({"API_KEY": "a", "lower_case": "b", "9LIVES": "c", "TRAILING\n": "d"})
    )
    env = environ(moto_endpoint, secret)

    assert load_secrets(env) == ["API_KEY"]
    assert not {"lower_case", "9LIVES", "TRAILING\n"} & set(env)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (f"DJANGO_SECRET_KEY={MARKER}", "is not JSON"),
        (json.dumps([MARKER]), "is a JSON list, not an object"),
        (json.dumps(MARKER), "is a JSON str, not an object"),
        (json.dumps({"DJANGO_SECRET_KEY": {"nested": MARKER}}), "not strings: DJANGO_SECRET_KEY"),
        (json.dumps({"WORKERS": 4}), "not strings: WORKERS"),
        (MARKER.encode(), "has no SecretString"),
    ],
    ids=["not-json", "list", "string", "nested", "number", "binary"],
)
def test_refuses_a_secret_that_is_not_an_object_of_strings(
    make_secret: Any, moto_endpoint: str, value: str | bytes, says: str
) -> None:
    secret = make_secret(value)
    env = environ(moto_endpoint, secret)

    with pytest.raises(SecretError) as refused:
        load_secrets(env)

    assert says in str(refused.value)
    assert secret in str(refused.value)
    assert MARKER not in str(refused.value)
    context = refused.value.__context__  # a JSON error would carry the text in .doc
    assert refused.value.__cause__ is None
    assert context is None or refused.value.__suppress_context__
    assert "DJANGO_SECRET_KEY" not in env


def test_a_missing_secret_names_the_error_not_the_value(moto_endpoint: str) -> None:
    with pytest.raises(SecretError, match=r"'ai-lifestyle-app/nowhere': ResourceNotFound"):
        load_secrets(environ(moto_endpoint, "ai-lifestyle-app/nowhere"))


def test_values_never_reach_the_logs(
    make_secret: Any, moto_endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = make_secret(json.dumps({"DJANGO_SECRET_KEY": MARKER, "bad name": MARKER}))
    # Everything at DEBUG, botocore included (it logs response bodies there).
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="botocore")

    load_secrets(environ(moto_endpoint, secret))

    assert "set DJANGO_SECRET_KEY" in caplog.text
    assert "skipped 1 entries" in caplog.text
    assert MARKER not in caplog.text
    assert logging.getLogger("botocore.parsers").level == logging.NOTSET  # restored


def settings_process(endpoint: str, secret_id: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter importing the production settings module, as a
    Lambda cold start does, with no DJANGO_SECRET_KEY of its own."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DJANGO_SECRET_KEY", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        LIFESTYLE_SECRET_ID=secret_id,
        AWS_ENDPOINT_URL=endpoint,
        AWS_REGION=REGION,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )
    script = (
        "import hashlib, lifestyle.settings.base as s; "
        "print(hashlib.sha256(s.SECRET_KEY.encode()).hexdigest())"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_settings_take_the_secret_key_from_the_secret(make_secret: Any, moto_endpoint: str) -> None:
    import hashlib

    secret = make_secret(json.dumps({"DJANGO_SECRET_KEY": MARKER}))

    result = settings_process(moto_endpoint, secret)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == hashlib.sha256(MARKER.encode()).hexdigest()
    assert MARKER not in result.stderr


def test_settings_refuse_to_start_on_a_bad_secret(make_secret: Any, moto_endpoint: str) -> None:
    secret = make_secret(f"DJANGO_SECRET_KEY={MARKER}")

    result = settings_process(moto_endpoint, secret)

    assert result.returncode != 0
    assert f"SecretError: The secret '{secret}' is not JSON" in result.stderr
    assert MARKER not in result.stderr
