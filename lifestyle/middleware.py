"""Request guards that run before any view."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from lifestyle.errors import PayloadTooLarge, json_error


class RequestBodyLimitMiddleware:
    """Refuse API bodies over ``API_MAX_BODY_BYTES`` with 413 before any
    byte is parsed. Bodies without a length (chunked) are caught later by
    Django's DATA_UPLOAD_MAX_MEMORY_SIZE, which the error handler maps to 413."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.API_MAX_BODY_BYTES:
            return json_error(
                request,
                PayloadTooLarge.status,
                PayloadTooLarge.code,
                f"The request body is over {settings.API_MAX_BODY_BYTES} bytes.",
            )
        return self.get_response(request)
