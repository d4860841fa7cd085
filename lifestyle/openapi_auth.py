"""Schema generation's entry point: how the schema describes our
authentication, and the views' deferred ``extend_schema`` annotations.
drf-spectacular finds extensions by their being imported; SPECTACULAR_SETTINGS
names ``preprocess`` as a hook, so any schema generation (the HTTP endpoint
or ``manage.py spectacular``) imports this module and calls it first."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from lifestyle.schema import apply_deferred_schemas


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
    """Runs before the generator inspects any view: the views' annotations
    (see ``lifestyle.schema.extend_schema``) are applied here. The endpoints
    pass through unchanged."""
    apply_deferred_schemas()
    return endpoints
