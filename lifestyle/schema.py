"""OpenAPI pieces shared by every app's views: the error shape, the
responses most operations can give, and :func:`extend_schema`. (The
security scheme is in ``lifestyle.openapi_auth``, loaded only when a schema
is generated.)"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

T = TypeVar("T")

_deferred: list[tuple[Any, dict[str, Any]]] = []
_deferred_lock = threading.Lock()


def extend_schema(**kwargs: Any) -> Callable[[T], T]:
    """drf-spectacular's ``extend_schema``, applied when a schema is first
    generated rather than when the view is defined.

    Its decorator subclasses the default schema class on the spot, which
    imports drf-spectacular's generator (and with it ``django.test`` and
    Jinja2): some 40 ms of every cold start, for a document a Lambda serving
    requests never builds. Here the decoration is only recorded; the
    preprocessing hook in ``lifestyle.openapi_auth`` applies every recorded
    one, in definition order, before the generator looks at any view.
    """

    def record(target: T) -> T:
        with _deferred_lock:
            _deferred.append((target, kwargs))
        return target

    return record


def apply_deferred_schemas() -> None:
    """Apply what :func:`extend_schema` recorded (once; later calls are cheap)."""
    from drf_spectacular.utils import extend_schema as decorate

    with _deferred_lock:
        while _deferred:
            target, kwargs = _deferred.pop(0)
            decorate(**kwargs)(target)


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable: e.g. validation_error.")
    message = serializers.CharField(help_text="For people; may change.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Per-field messages, for validation errors.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


COMMON_ERRORS: dict[int, OpenApiResponse] = {
    401: error("Missing, malformed, expired or foreign token."),
    429: error(
        "Over your rate limit (`rate_limited`): retry after `Retry-After` seconds. "
        "`X-RateLimit-Limit`, `-Remaining` and `-Reset` (seconds) come with every answer."
    ),
    503: error("A dependency is busy; retry after `Retry-After` seconds."),
}
WRITE_ERRORS: dict[int, OpenApiResponse] = {
    **COMMON_ERRORS,
    400: error("Invalid, unknown or read-only fields."),
    413: error("Body over 64 KB."),
    415: error("Body is not JSON."),
}
