"""Secrets from AWS Secrets Manager, loaded into the environment at cold start.

When ``LIFESTYLE_SECRET_ID`` names a secret, :func:`load_secrets` fetches it
once per process (a Lambda container's whole life) and sets each of its
entries as an environment variable, before the settings read them: the
secret is a JSON object of ``VARIABLE -> value``, e.g.
``{"DJANGO_SECRET_KEY": "...", "COGNITO_USER_POOL_ID": "...",
"COGNITO_APP_CLIENT_ID": "..."}``. Variables already set win, so a
developer or a test can override any of them. Values are never logged or
put in an error message; names may be.

It runs before Django is configured, so it reads the environment directly
and builds its own client (boto3 is imported only when a secret is used).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ImproperlyConfigured

SECRET_ID_VARIABLE = "LIFESTYLE_SECRET_ID"  # noqa: S105 (a variable name, not a secret)
VARIABLE_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")

logger = logging.getLogger(__name__)

_lock = threading.Lock()
# What each secret held, by (secret id, region, endpoint), for this process.
_fetched: dict[tuple[str, str, str | None], dict[str, str]] = {}


class SecretError(ImproperlyConfigured):
    """The secret cannot be read or is not a JSON object of strings."""


def load_secrets(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Set the variables of the secret named by ``LIFESTYLE_SECRET_ID`` that
    ``environ`` (default: ``os.environ``) does not already have (an empty
    value counts as unset, as in :mod:`lifestyle.env`). Returns the names it
    set. No secret id, no effect."""
    environ = os.environ if environ is None else environ
    secret_id = environ.get(SECRET_ID_VARIABLE, "").strip()
    if not secret_id:
        return []
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    endpoint = environ.get("AWS_ENDPOINT_URL") or None
    values = _secret_values(secret_id, region, endpoint)
    loaded = [name for name, value in values.items() if not environ.get(name)]
    for name in loaded:
        environ[name] = values[name]
    logger.info(
        "secret %s: set %s (%d already set)",
        secret_id,
        ", ".join(sorted(loaded)) or "nothing",
        len(values) - len(loaded),
    )
    return sorted(loaded)


def _secret_values(secret_id: str, region: str, endpoint: str | None) -> dict[str, str]:
    key = (secret_id, region, endpoint)
    with _lock:  # one fetch per process, even if two threads start at once
        if key not in _fetched:
            _fetched[key] = parse_secret(secret_id, _fetch(secret_id, region, endpoint))
        return _fetched[key]


@contextmanager
def _botocore_bodies_unlogged() -> Iterator[None]:
    """botocore logs whole response bodies at DEBUG, and this runs before
    Django's LOGGING caps botocore: keep the secret out of the logs even if
    a deployment's log level is DEBUG (Zappa's default when unset)."""
    parsers = logging.getLogger("botocore.parsers")
    level = parsers.level
    parsers.setLevel(max(level, logging.INFO))
    try:
        yield
    finally:
        parsers.setLevel(level)


def _fetch(secret_id: str, region: str, endpoint: str | None) -> dict[str, Any]:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.session.Session().client(
        "secretsmanager",
        region_name=region,
        endpoint_url=endpoint,
        config=Config(
            connect_timeout=3, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 3}
        ),
    )
    try:
        with _botocore_bodies_unlogged():
            return dict(client.get_secret_value(SecretId=secret_id))
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        raise SecretError(f"Cannot read the secret {secret_id!r}: {code}.") from None
    except BotoCoreError as error:
        raise SecretError(
            f"Cannot read the secret {secret_id!r}: {type(error).__name__}."
        ) from None


def parse_secret(secret_id: str, response: dict[str, Any]) -> dict[str, str]:
    """The secret's ``VARIABLE -> value`` pairs. Entries whose names are not
    environment-variable names (``^[A-Z][A-Z0-9_]*$``) are skipped with a
    warning; anything but a JSON object of strings is refused."""
    text = response.get("SecretString")
    if not isinstance(text, str):
        raise SecretError(
            f"The secret {secret_id!r} has no SecretString: store a JSON object of "
            "VARIABLE -> value as text."
        )
    try:
        data = json.loads(text)
    except ValueError:
        # The decode error carries the whole text (``.doc``): keep it out of tracebacks.
        raise SecretError(
            f"The secret {secret_id!r} is not JSON: store a JSON object of VARIABLE -> value."
        ) from None
    if not isinstance(data, dict):
        raise SecretError(
            f"The secret {secret_id!r} is a JSON {type(data).__name__}, not an object of "
            "VARIABLE -> value."
        )
    skipped = sum(1 for name in data if not VARIABLE_NAME.fullmatch(name))
    if skipped:
        logger.warning(
            "secret %s: skipped %d entries whose names are not environment variable names",
            secret_id,
            skipped,
        )
    values = {name: value for name, value in data.items() if VARIABLE_NAME.fullmatch(name)}
    not_text = sorted(name for name, value in values.items() if not isinstance(value, str))
    if not_text:
        raise SecretError(
            f"The secret {secret_id!r} has values that are not strings: {', '.join(not_text)}."
        )
    return values


def forget() -> None:
    """Drop what this process fetched (tests)."""
    with _lock:
        _fetched.clear()
