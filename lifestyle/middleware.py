"""Request guards that run before any view, and the request log."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from lifestyle import request_log
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


class RequestLogMiddleware:
    """One JSON line per request on ``lifestyle.request`` and the request id
    in an ``X-Request-Id`` response header (see ``lifestyle.request_log``).

    First in MIDDLEWARE: it times everything and sees the final status,
    including a 413 from the body limit or a 500 from any layer. Django
    turns every exception into a response before it gets here; the
    ``got_request_exception`` signal it sends on the way hands over the
    traceback of a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        from django.core.signals import got_request_exception

        self.get_response = get_response
        got_request_exception.connect(
            request_log.remember_exception, dispatch_uid="lifestyle-request-log"
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with request_log.serving(request.META) as state:
            response = self.get_response(request)
            response[request_log.REQUEST_ID_HEADER] = state.request_id
            request_log.log_request(
                state, request, response.status_code, request_log.error_code(response)
            )
        return response
