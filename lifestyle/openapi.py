"""The OpenAPI schema and its Swagger UI, built only when asked for.

drf-spectacular's generator is a good share of a cold start if imported
with the URLconf; a Lambda serving the app never needs it, so these views
import it on first use.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import get_script_prefix


@cache
def _views() -> dict[str, Any]:
    from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

    return {
        "schema": SpectacularAPIView.as_view(),
        "docs": SpectacularSwaggerView.as_view(url_name="schema"),
    }


def _serve(name: str, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    response: HttpResponse = _views()[name](request, *args, **kwargs)
    if response.status_code == 406:
        # drf-spectacular renders this refusal in a format the client just
        # said it does not accept (HTML, YAML); the API's errors are JSON.
        from lifestyle.errors import json_error

        offered = "an OpenAPI document (JSON or YAML)" if name == "schema" else "an HTML page"
        return json_error(request, 406, "not_acceptable", f"This resource is {offered}.")
    return response


def schema(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """The OpenAPI 3 document."""
    return _serve("schema", request, *args, **kwargs)


def docs(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Swagger UI over the document."""
    return _serve("docs", request, *args, **kwargs)


def server_at_script_prefix(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """A POSTPROCESSING_HOOK: under a script prefix (API Gateway's stage on
    the execute-api host) the API's server is that prefix, so Swagger UI's
    "Try it out" calls ``/dev/api/v1/...``, not ``/api/v1/...``. At the root
    (custom domain, runserver) the default server ``/`` is already right."""
    prefix = get_script_prefix().rstrip("/")
    if prefix:
        result["servers"] = [{"url": prefix}]
    return result
