"""One structured log line per request, and JSON log records.

Every request served ends with one record on the ``lifestyle.request``
logger (written by ``lifestyle.middleware.RequestLogMiddleware``)::

    {"time": "2026-11-28T09:14:03.512Z", "level": "INFO", "logger": "lifestyle.request",
     "message": "GET api/v1/goals 200", "request_id": "8f14e45f-...", "user_id": "4b1e...",
     "method": "GET", "path": "/dev/api/v1/goals", "route": "api/v1/goals", "status": 200,
     "duration_ms": 18.4, "dynamodb_calls": 1, "dynamodb_retries": 0}

- ``request_id`` is Lambda's ``aws_request_id`` when Zappa serves the
  request (it puts the Lambda context in ``request.META["lambda.context"]``),
  else a well-formed ``X-Request-Id`` the caller sent, else a new ULID. The
  response carries it back as ``X-Request-Id`` so support can find the
  line; every other record logged while the request is served carries it
  too (:class:`JsonFormatter`), so a warning or a traceback joins its request.
- ``trace_id`` is the X-Ray root from ``X-Amzn-Trace-Id`` when present.
- ``path`` never has the query string (it can hold personal data), and
  ``route`` is the URL pattern, for grouping.
- ``dynamodb_calls`` counts DynamoDB API calls (PynamoDB's and boto3's
  alike: :func:`instrument` hooks botocore's events on every client the app
  builds); ``dynamodb_retries`` the extra attempts botocore's retry mode
  made, i.e. throttling or transient errors absorbed.
- A 5xx is logged at ERROR (503, "retry shortly", at WARNING) with the
  traceback of the exception that caused it, inside the same JSON line.

Never in any line: tokens, headers, bodies, query strings, e-mail
addresses; the user is their Cognito ``sub``.

The per-request state lives in a context variable, so it is right under
``runserver``'s threads as on Lambda. Nothing here is costly to import.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from lifestyle.ids import new_ulid

logger = logging.getLogger("lifestyle.request")

REQUEST_ID_HEADER = "X-Request-Id"
# What a caller-supplied request id may look like (it is echoed and logged).
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_TRACE_ROOT = re.compile(r"(?:^|;)\s*Root=([A-Za-z0-9-]{1,64})")

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


@dataclass
class RequestState:
    """What is known about the request being served."""

    request_id: str
    trace_id: str | None = None
    started: float = field(default_factory=time.perf_counter)
    dynamodb_calls: int = 0
    dynamodb_attempts: int = 0
    exc_info: ExcInfo | None = None


_current: ContextVar[RequestState | None] = ContextVar("lifestyle_request", default=None)


def current() -> RequestState | None:
    """The request being served in this context, if any."""
    return _current.get()


# --- Ids -----------------------------------------------------------------------------


def request_id_for(meta: dict[str, Any]) -> str:
    """Lambda's request id, else a well-formed ``X-Request-Id``, else a ULID."""
    context = meta.get("lambda.context")
    lambda_id = getattr(context, "aws_request_id", None)
    if isinstance(lambda_id, str) and lambda_id:
        return lambda_id
    given = meta.get("HTTP_X_REQUEST_ID")
    if isinstance(given, str) and _REQUEST_ID.fullmatch(given):
        return given
    return new_ulid()


def trace_id_for(meta: dict[str, Any]) -> str | None:
    """The X-Ray trace root (``1-6748a1b2-...``) API Gateway forwards."""
    header = meta.get("HTTP_X_AMZN_TRACE_ID")
    match = _TRACE_ROOT.search(header) if isinstance(header, str) else None
    return match.group(1) if match else None


@contextmanager
def serving(meta: dict[str, Any]) -> Iterator[RequestState]:
    """The state of the request whose WSGI environ is ``meta``, current
    for the duration of the block."""
    state = RequestState(request_id=request_id_for(meta), trace_id=trace_id_for(meta))
    token = _current.set(state)
    try:
        yield state
    finally:
        _current.reset(token)


# --- botocore hooks ---------------------------------------------------------------------


def _count_call(**_: Any) -> None:
    state = _current.get()
    if state is not None:
        state.dynamodb_calls += 1


def _count_attempt(**_: Any) -> None:
    state = _current.get()
    if state is not None:
        state.dynamodb_attempts += 1


def instrument(client: Any) -> Any:
    """Count this botocore client's DynamoDB calls (``before-call``, once
    per API call) and attempts (``before-send``, once per HTTP request,
    retries included) against the request being served. Idempotent; on a
    client of another service the hooks never fire. Returns ``client``."""
    events = client.meta.events
    events.register("before-call.dynamodb", _count_call, unique_id="lifestyle-dynamodb-calls")
    events.register("before-send.dynamodb", _count_attempt, unique_id="lifestyle-dynamodb-sends")
    return client


def remember_exception(**_: Any) -> None:
    """``got_request_exception`` receiver: Django is about to answer 500;
    keep the exception so the request's line can carry its traceback."""
    state = _current.get()
    exc_type, exc, traceback = sys.exc_info()
    if state is not None and exc_type is not None and exc is not None:
        state.exc_info = (exc_type, exc, traceback)


# --- The request line -------------------------------------------------------------------


def error_code(response: Any) -> str | None:
    """The API's error code of a 4xx/5xx (``token_revoked``, ``not_found``):
    a fixed word, never personal data, and what tells one 401 from another."""
    if response.status_code < 400:
        return None
    data = getattr(response, "data", None)  # DRF's Response, before rendering
    if data is None and response.get("Content-Type", "").startswith("application/json"):
        content = getattr(response, "content", b"")  # our JsonResponse handlers
        if len(content) <= 4096:
            try:
                data = json.loads(content)
            except ValueError:
                return None
    error = data.get("error") if isinstance(data, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def log_request(state: RequestState, request: Any, status: int, error: str | None = None) -> None:
    """Write the request's line (see the module docstring)."""
    # DRF sets ``user`` on the HttpRequest too; the staff console sets ``staff``.
    user = getattr(request, "user", None) or getattr(request, "staff", None)
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", None) or None
    fields: dict[str, Any] = {
        "request_id": state.request_id,
        "trace_id": state.trace_id,
        "user_id": getattr(user, "user_id", None),
        "method": request.method,
        "path": request.path,
        "route": route,
        "status": status,
        "error_code": error,
        "duration_ms": round((time.perf_counter() - state.started) * 1000, 1),
        "dynamodb_calls": state.dynamodb_calls,
        "dynamodb_retries": max(state.dynamodb_attempts - state.dynamodb_calls, 0),
    }
    level = logging.INFO
    if status >= 500:
        level = logging.WARNING if status == 503 else logging.ERROR
    exc_info = state.exc_info if status >= 500 else None
    state.exc_info = None  # the traceback holds frames: let them go
    logger.log(
        level,
        "%s %s %s",
        request.method,
        route or "(no route)",
        status,
        exc_info=exc_info,
        extra={"fields": fields},
    )


# --- Formatting ----------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """Each record as one line of JSON (CloudWatch keeps a multi-line
    traceback as one event only when it is one line): ``time``, ``level``,
    ``logger``, ``message``, the current request's ``request_id``, the
    structured ``fields`` a record was given (``extra={"fields": {...}}``),
    and ``exception`` with the whole traceback. Other ``extra`` attributes
    (Django attaches the request object to some records) are never written."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        state = _current.get()
        if state is not None:
            entry["request_id"] = state.request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, separators=(",", ":"))
