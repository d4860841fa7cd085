"""OpenAPI pieces shared by every app: the security scheme, the error shape
and the responses most operations can give."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class CognitoBearerScheme(OpenApiAuthenticationExtension):
    target_class = "lifestyle.auth.CognitoAuthentication"
    name = "cognito"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A Cognito ID or access token from this pool's app client.",
        }


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
