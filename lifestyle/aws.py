"""AWS clients, built on first use and cached per process.

Nothing here runs at import time, so tests can start moto before the first
client exists and call :func:`reset_clients` when they change settings.
Every client shares one botocore retry policy (``AWS_RETRY_MODE`` and
``AWS_MAX_ATTEMPTS``) and the optional ``AWS_ENDPOINT_URL`` that points the
whole product at moto's server on a laptop.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.conf import settings


def retry_config() -> dict[str, Any]:
    """botocore's retry policy from settings, for boto3's clients, PynamoDB's
    (``lifestyle.dynamo.TableItem``) and the S3 storage alike: ``standard``
    (exponential backoff with jitter, throttling and transient errors
    retried, a retry quota) or ``adaptive`` (standard plus client-side rate
    limiting once throttled), ``AWS_MAX_ATTEMPTS`` attempts in all."""
    return {"mode": settings.AWS_RETRY_MODE, "total_max_attempts": settings.AWS_MAX_ATTEMPTS}


def botocore_config(**overrides: Any) -> Any:
    from botocore.config import Config

    options: dict[str, Any] = {
        "region_name": settings.AWS_REGION,
        "retries": retry_config(),
        "connect_timeout": 3,
        "read_timeout": 10,
    }
    options.update(overrides)
    return Config(**options)


@cache
def client(service: str) -> Any:
    """A boto3 client for ``service`` configured from settings."""
    import boto3

    from lifestyle.request_log import instrument

    extra: dict[str, Any] = {}
    if service == "s3":
        extra["signature_version"] = "s3v4"
    return instrument(
        boto3.session.Session().client(
            service,
            endpoint_url=settings.AWS_ENDPOINT_URL,
            config=botocore_config(**extra),
        )
    )


def reset_clients() -> None:
    """Forget cached clients and connections (after a settings change)."""
    from django.core.files.storage import storages

    from lifestyle import dynamo

    client.cache_clear()
    dynamo.configure_models()
    # The S3 storage keeps its client too (lifestyle.storage): build it again.
    storages._storages.pop("default", None)
