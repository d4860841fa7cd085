"""The OpenAPI document is valid and says what clients need to know."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from openapi_spec_validator import validate
from rest_framework.test import APIClient


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    response = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return dict(response.json())


def test_schema_is_valid_openapi_3(schema: dict[str, Any]) -> None:
    assert schema["openapi"].startswith("3.")
    validate(schema)


def test_schema_documents_the_bearer_scheme(schema: dict[str, Any]) -> None:
    scheme = schema["components"]["securitySchemes"]["cognito"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


def _operations(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        operation["operationId"]: operation
        for path in schema["paths"].values()
        for operation in path.values()
    }


def test_runbook_operations_are_all_there(schema: dict[str, Any]) -> None:
    assert {
        "create_goal", "get_goal", "list_goals", "update_goal", "archive_goal", "unarchive_goal"
    } <= set(_operations(schema))  # fmt: skip


def test_every_protected_operation_documents_auth_and_the_error_shape(
    schema: dict[str, Any],
) -> None:
    error_ref = "#/components/schemas/Error"
    for operation_id, operation in _operations(schema).items():
        if not operation_id.endswith("_goal") and not operation_id.endswith("_goals"):
            continue
        assert {"cognito": []} in operation["security"], operation_id
        unauthorized = operation["responses"]["401"]["content"]["application/json"]["schema"]
        assert unauthorized == {"$ref": error_ref}, operation_id
    error = schema["components"]["schemas"]["ErrorDetail"]
    assert set(error["required"]) == {"code", "message"}


def test_list_documents_pagination(schema: dict[str, Any]) -> None:
    operation = _operations(schema)["list_goals"]
    parameters = {parameter["name"] for parameter in operation["parameters"]}
    assert {"limit", "cursor", "status"} <= parameters
    page = schema["components"]["schemas"]["GoalPage"]
    assert set(page["properties"]) == {"items", "next_cursor"}


def test_health_needs_no_token(schema: dict[str, Any]) -> None:
    health = schema["paths"]["/api/v1/health"]["get"]
    assert health.get("security") in ([], [{}], None)


def test_swagger_ui_is_served_with_its_assets() -> None:
    client = APIClient()
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    assert b"swagger-ui" in page.content
    asset = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200


@pytest.mark.parametrize(
    ("path", "accept"),
    [("/api/v1/docs/", "application/json"), ("/api/v1/schema/", "text/html")],
)
def test_an_unacceptable_accept_header_is_a_json_406(path: str, accept: str) -> None:
    response = APIClient().get(path, HTTP_ACCEPT=accept)
    assert response.status_code == 406
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_acceptable"


def test_serving_requests_does_not_load_the_schema_generator() -> None:
    """The generator (and django.test and Jinja2, which it imports) costs
    ~40 ms of a cold start; only the schema endpoints may load it."""
    probe = """
import io
import sys
import django
from django.core.handlers.wsgi import WSGIHandler
django.setup()
handler = WSGIHandler()
environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/v1/goals", "SERVER_NAME": "testserver",
           "SERVER_PORT": "80", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO()}
statuses = []
handler(environ, lambda status, headers: statuses.append(status))
heavy = ("drf_spectacular.openapi", "drf_spectacular.generators", "django.test", "jinja2")
print(statuses[0], sorted(name for name in heavy if name in sys.modules))
"""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "lifestyle.settings.test"}
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    # 401: the request went all the way through DRF's view, without a token.
    assert result.stdout.split() == ["401", "Unauthorized", "[]"]
