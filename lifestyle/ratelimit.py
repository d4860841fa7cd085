"""Per-user request limits, shared by every Lambda container.

Each container is its own process, and API Gateway spreads a user's requests
over as many as are warm, so a count kept in memory would let a user make
``limit`` requests *per container*. The counts live in the product's one
DynamoDB table instead, one item per user, scope and window::

    pk = RATE#{user_id}    sk = LIMIT#{scope}#{seconds}#{window_start}
    hits = 17              expires_at = window_end (epoch seconds; DynamoDB TTL)

**One write per request.** :func:`count_request` sends a single UpdateItem
(``ADD hits :1``, ``ReturnValues=UPDATED_NEW``): DynamoDB adds atomically, so
concurrent requests in different containers each get their own count back,
and the request is allowed while that count is at most the limit. There is
no read first and no condition to race on. Refused requests are counted too:
a client hammering while refused does not get a fresh allowance sooner.

**Fixed windows**, each ``seconds`` long. A client can, at worst, spend one
window's allowance at its end and the next one's at the start of the next:
up to twice the limit over a short stretch, which is acceptable for limits
meant to stop runaway loops, and costs one write instead of a sliding
window's several. Windows start at an offset derived from the user id, so
clients refused at the same moment do not all come back at the same second.
An old window's item is never read again; TTL on ``expires_at`` (the table's
TTL attribute, ``lifestyle.provisioning.TTL_ATTRIBUTE``) deletes it.

**Scopes**: ``read`` (GET, HEAD, OPTIONS) and ``write`` (every other method),
with limits in ``settings.RATE_LIMITS``. A view can count against a
stricter scope instead by naming it in a class attribute::

    class ExportStartApi(APIView):
        rate_limit_scope = "export"   # a key of settings.RATE_LIMITS

**Headers.** Every response to a limited request carries ``X-RateLimit-Limit``
(the scope's limit), ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset``:
*seconds* until the window ends, not an epoch time, because a phone's clock
can be minutes off and a delay needs no clock to agree on (the same choice as
``Retry-After`` and the IETF draft on RateLimit headers). A refused request is
a 429 ``rate_limited`` in the API's error shape with ``Retry-After`` (equal
to the reset), from ``lifestyle.errors``.

**Fail open.** If DynamoDB refuses or throttles the counter's write (after
botocore's retries) the request goes through and a warning is logged with the
error code only: a limiter outage must not take the API down.

Only authenticated requests are limited: anonymous API requests are refused
with 401 before throttles run, and health, schema and docs are anonymous.
The staff console is not a DRF view and is not limited here.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from pynamodb.attributes import NumberAttribute
from pynamodb.constants import UPDATED_NEW
from pynamodb.exceptions import PynamoDBException
from rest_framework.throttling import BaseThrottle

from lifestyle.dynamo import TableItem
from lifestyle.timeutil import utcnow

logger = logging.getLogger(__name__)

PK_PREFIX = "RATE#"
READ, WRITE = "read", "write"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Where the throttle leaves its decision for RateLimitHeadersMiddleware: on
# Django's HttpRequest, which the middleware sees (DRF's Request wraps it).
REQUEST_ATTRIBUTE = "rate_limit"


def rate_pk(user_id: str) -> str:
    return f"{PK_PREFIX}{user_id}"


def window_sk(scope: str, seconds: int, window_start: int) -> str:
    """The window's length is in the key too: a limit changed to another
    length starts fresh counts instead of mixing two kinds of window."""
    return f"LIMIT#{scope}#{seconds}#{window_start}"


class RateCounter(TableItem, discriminator="RateCounter"):
    """Requests counted in one window (only ever written, with ADD)."""

    hits = NumberAttribute(default=0)
    expires_at = NumberAttribute()  # DynamoDB TTL: the window's end


@dataclass(frozen=True)
class Decision:
    """The count after this request, and what the client is told."""

    scope: str
    limit: int
    hits: int
    reset_seconds: int

    @property
    def allowed(self) -> bool:
        return self.hits <= self.limit

    @property
    def remaining(self) -> int:
        return max(self.limit - self.hits, 0)

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_seconds),
        }


def limit_for(scope: str) -> tuple[int, int]:
    """``(requests, seconds)`` for ``scope`` from ``settings.RATE_LIMITS``."""
    try:
        requests, seconds = settings.RATE_LIMITS[scope]
    except KeyError:
        raise ImproperlyConfigured(
            f"Rate limit scope {scope!r} is not in settings.RATE_LIMITS."
        ) from None
    return int(requests), int(seconds)


def window(user_id: str, seconds: int, now: float) -> tuple[int, int]:
    """The start and end (epoch seconds) of the window holding ``now``.
    Windows are ``seconds`` long and offset per user by a stable hash of
    the id, the same in every container."""
    offset = zlib.crc32(user_id.encode()) % seconds
    start = (math.floor(now) - offset) // seconds * seconds + offset
    return start, start + seconds


def count_request(*, user_id: str, scope: str) -> Decision | None:
    """Count one request of ``user_id`` in ``scope``'s current window.
    None when the count could not be written: the caller lets the request
    through (fail open)."""
    limit, seconds = limit_for(scope)
    now = utcnow().timestamp()
    start, end = window(user_id, seconds, now)
    actions = [
        RateCounter.hits.add(1),
        RateCounter.expires_at.set(end),
        RateCounter.type.set(RateCounter),
    ]
    try:
        answer = RateCounter._get_connection().update_item(
            rate_pk(user_id),
            window_sk(scope, seconds, start),
            actions=actions,
            return_values=UPDATED_NEW,
        )
    except (PynamoDBException, BotoCoreError, ClientError) as error:
        # The error's code only: its message or the request could name the user.
        logger.warning(
            "Rate limit not checked, request let through: %s %s",
            type(error).__name__,
            _aws_code(error) or "",
        )
        return None
    hits = int(answer["Attributes"]["hits"]["N"])
    return Decision(scope, limit, hits, reset_seconds=math.ceil(end - now))


def _aws_code(error: Exception) -> str | None:
    response = getattr(error, "response", None)  # botocore's ClientError
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    code = getattr(error, "cause_response_code", None)  # PynamoDB's wrappers
    return str(code) if code else None


def scope_for(method: str, view: Any) -> str:
    """The view's own scope if it declares one, else read or write."""
    declared = getattr(view, "rate_limit_scope", None)
    if declared:
        return str(declared)
    return READ if method.upper() in READ_METHODS else WRITE


class UserRateThrottle(BaseThrottle):
    """DRF throttle (``DEFAULT_THROTTLE_CLASSES``): runs after authentication
    and permissions, so the caller is a known user; a request without one is
    not limited here."""

    def __init__(self) -> None:
        self.decision: Decision | None = None

    def allow_request(self, request: Any, view: Any) -> bool:
        user_id = getattr(request.user, "user_id", None)
        if not user_id:
            return True
        decision = count_request(user_id=user_id, scope=scope_for(request.method, view))
        if decision is None:
            return True
        self.decision = decision
        setattr(request._request, REQUEST_ATTRIBUTE, decision)
        return decision.allowed

    def wait(self) -> float | None:
        """Seconds until the window ends: DRF's 429 carries it as Retry-After."""
        return float(self.decision.reset_seconds) if self.decision else None


class RateLimitHeadersMiddleware:
    """Adds the X-RateLimit-* headers to every response of a request the
    throttle counted, the 429 included, whatever view or error produced it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        decision = getattr(request, REQUEST_ATTRIBUTE, None)
        if isinstance(decision, Decision):
            for name, value in decision.headers().items():
                response[name] = value
        return response
