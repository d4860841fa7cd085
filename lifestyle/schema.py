"""OpenAPI pieces shared by every app's views: the error shape and the
responses most operations can give. (The security scheme is in
``lifestyle.openapi``, loaded only when a schema is generated.)"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


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
    503: error("A dependency is busy; retry after `Retry-After` seconds."),
}
WRITE_ERRORS: dict[int, OpenApiResponse] = {
    **COMMON_ERRORS,
    400: error("Invalid, unknown or read-only fields."),
    413: error("Body over 64 KB."),
    415: error("Body is not JSON."),
}
