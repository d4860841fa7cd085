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


def schema(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """The OpenAPI 3 document."""
    return _views()["schema"](request, *args, **kwargs)


def docs(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Swagger UI over the document."""
    return _views()["docs"](request, *args, **kwargs)


def server_at_script_prefix(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """A POSTPROCESSING_HOOK: under a script prefix (API Gateway's stage on
    the execute-api host) the API's server is that prefix, so Swagger UI's
    "Try it out" calls ``/dev/api/v1/...``, not ``/api/v1/...``. At the root
    (custom domain, runserver) the default server ``/`` is already right."""
    prefix = get_script_prefix().rstrip("/")
    if prefix:
        result["servers"] = [{"url": prefix}]
    return result
