"""How the schema describes our authentication. drf-spectacular finds
extensions by their being imported; SPECTACULAR_SETTINGS names
``preprocess`` as a hook, so any schema generation imports this module."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


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


def preprocess(endpoints: list[Any], **kwargs: Any) -> list[Any]:
    """A hook that changes nothing: naming it is what loads this module."""
    return endpoints
