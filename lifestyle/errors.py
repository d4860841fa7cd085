"""One error shape for the whole API.

Services raise :class:`ApplicationError` subclasses; DRF's exceptions and
Django's 404/500 are translated here too, so every error a client can see is

    {"error": {"code": "validation_error", "message": "...", "fields": {...}}}

with the matching HTTP status, and never an HTML page.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    status = 400
    code = "bad_request"
    default_message = "The request could not be processed."

    def __init__(self, message: str | None = None, *, fields: dict[str, Any] | None = None) -> None:
        self.message = message or self.default_message
        self.fields = fields
        super().__init__(self.message)


class ValidationFailed(ApplicationError):
    status = 400
    code = "validation_error"
    default_message = "The request has invalid fields."


class NotFound(ApplicationError):
    status = 404
    code = "not_found"
    default_message = "Not found."


class Conflict(ApplicationError):
    status = 409
    code = "conflict"
    default_message = "The request conflicts with the resource's current state."


class PreconditionFailed(ApplicationError):
    status = 412
    code = "precondition_failed"
    default_message = "The resource has changed since you read it; fetch it again."


class PreconditionRequired(ApplicationError):
    status = 428
    code = "precondition_required"
    default_message = "Send the resource's ETag in an If-Match header."


class PayloadTooLarge(ApplicationError):
    status = 413
    code = "payload_too_large"
    default_message = "The request body is too large."


class ServiceUnavailable(ApplicationError):
    status = 503
    code = "service_unavailable"
    default_message = "The service is busy; retry shortly."
    retry_after_seconds = 1


def _encodable(value: Any) -> Any:
    """``value`` with every string made encodable as UTF-8. JSON lets a
    client send a lone surrogate (``"\\ud800"``); DRF echoes some inputs
    in its messages (``"..." is not a valid choice``) and unknown field
    names are echoed too, so without this the renderer would fail with a
    500 on bad input. Such characters are shown as ``\\ud800``."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_encodable(key): _encodable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_encodable(item) for item in value]
    return value


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": _encodable(message)}
    if fields:
        error["fields"] = _encodable(fields)
    return {"error": error}


def _flatten(detail: Any) -> Any:
    """DRF's ErrorDetail lists become plain strings and lists."""
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def _validation_fields(detail: Any) -> tuple[str, dict[str, Any] | None]:
    if isinstance(detail, dict):
        fields = _flatten(detail)
        general = fields.pop("non_field_errors", None)
        message = general[0] if general else "The request has invalid fields."
        return message, fields or None
    if isinstance(detail, list) and detail:
        return str(detail[0]), None
    return str(detail), None


_DRF_CODES: dict[type[drf.APIException], str] = {
    drf.ParseError: "parse_error",
    drf.AuthenticationFailed: "authentication_failed",
    drf.NotAuthenticated: "not_authenticated",
    drf.PermissionDenied: "permission_denied",
    drf.NotFound: "not_found",
    drf.MethodNotAllowed: "method_not_allowed",
    drf.NotAcceptable: "not_acceptable",
    drf.UnsupportedMediaType: "unsupported_media_type",
    drf.Throttled: "rate_limited",  # lifestyle.ratelimit
}


def _aws_unavailable(exc: Exception) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError
    from pynamodb.exceptions import PynamoDBException

    return isinstance(exc, BotoCoreError | ClientError | PynamoDBException)


# AWS answers that mean "busy, try again": the 503 is the honest reply and a
# warning is enough. Anything else (AccessDenied after a deploy, a missing
# table, a validation error in our own request) is a fault to fix: an ERROR,
# so `zappa tail --filter ERROR` shows it.
_AWS_BUSY = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "TransactionCanceledException",
        "TransactionInProgressException",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "SlowDown",
        "TooManyRequestsException",
        "LimitExceededException",
        "RequestTimeout",
    }
)


def _aws_error_code(exc: Exception) -> str | None:
    """The AWS error code behind ``exc``, or None (connection errors)."""
    response = getattr(exc, "response", None)  # botocore's ClientError
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return getattr(exc, "cause_response_code", None)  # PynamoDB's wrappers


def _log_aws_failure(exc: Exception) -> None:
    code = _aws_error_code(exc)
    if code is None or code in _AWS_BUSY or code.startswith("5"):
        logger.warning(
            "AWS busy or unreachable: %s %s", type(exc).__name__, code or "", exc_info=exc
        )
    else:
        logger.error("AWS refused a call: %s %s", type(exc).__name__, code, exc_info=exc)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every exception becomes the error shape."""
    headers: dict[str, str] = {}
    if isinstance(exc, ApplicationError):
        status, body = exc.status, error_body(exc.code, exc.message, exc.fields)
        if isinstance(exc, ServiceUnavailable):
            headers["Retry-After"] = str(exc.retry_after_seconds)
    elif isinstance(exc, drf.ValidationError):
        message, fields = _validation_fields(exc.detail)
        status, body = 400, error_body("validation_error", message, fields)
    elif isinstance(exc, drf.APIException):
        code = next((c for t, c in _DRF_CODES.items() if isinstance(exc, t)), "error")
        given = exc.get_codes()  # a code given when raised: AuthenticationFailed(m, code=...)
        if isinstance(given, str) and given != exc.default_code:
            code = given
        status, body = exc.status_code, error_body(code, str(exc.detail))
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
    elif isinstance(exc, Http404):
        status, body = 404, error_body("not_found", "Not found.")
    elif isinstance(exc, RequestDataTooBig):
        status, body = 413, error_body(PayloadTooLarge.code, PayloadTooLarge.default_message)
    elif _aws_unavailable(exc):
        _log_aws_failure(exc)
        status = ServiceUnavailable.status
        body = error_body(ServiceUnavailable.code, ServiceUnavailable.default_message)
        headers["Retry-After"] = str(ServiceUnavailable.retry_after_seconds)
    else:
        return None  # a bug: let Django log it and answer with handler500
    return Response(body, status=status, headers=headers)


def json_error(request: HttpRequest, status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


def handler404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(request, 404, "not_found", "No such resource.")


def handler400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(request, 400, "bad_request", "The request could not be processed.")


def handler403(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(request, 403, "permission_denied", "You may not do that.")


def handler500(request: HttpRequest) -> JsonResponse:
    return json_error(request, 500, "server_error", "Something went wrong on our side.")
