"""The console's Audit log page: who did what to whom, one UTC day at a
time, newest first, or everything about one target whatever the day.

The page only reads (GET; anything else is 405) and any staff member may
look. There is no route to change or delete an entry: :func:`audit.record`
is the only writer, called by the actions themselves. Every query parameter
is checked before the log is read; a bad one is a 400 page saying which and
why, never a 500.

Parameters: ``day`` (``YYYY-MM-DD``, default today in UTC), ``actor``,
``action`` (one of :data:`audit.ACTIONS`), ``target`` (exact matches),
``limit`` (entries per page, default :data:`PAGE_SIZE`), ``cursor`` (the
"Next page" link's, from :class:`audit.AuditPage`), and ``every_day=1``
(with a target only: :func:`audit.entries_about`, one Query across days,
which has no actor or action filter).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from botocore.exceptions import BotoCoreError, ClientError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_GET
from pynamodb.exceptions import PynamoDBException

from lifestyle.checks import aws_error
from lifestyle.errors import ValidationFailed
from lifestyle.timeutil import utcnow
from ops_admin import audit
from ops_admin.console import ANY_STAFF, staff_view
from ops_admin.staff_auth import Staff

logger = logging.getLogger(__name__)

PAGE_SIZE = 25
# The longest actor or target the log stores (audit's own limit): a longer
# filter could never match.
MAX_FILTER = 500
# The log began with the console; earlier days only invite typos.
FIRST_DAY = date(2000, 1, 1)
# How much of a bad value an error message repeats.
ECHO = 60
RESULT_BADGES = {"ok": "badge-ok", "failed": "badge-bad", "refused": "badge-warn"}
LABELS = {
    "day": "Day",
    "every_day": "Every day",
    "actor": "Actor",
    "action": "Action",
    "target": "Target",
    "limit": "Per page",
    "cursor": "Page",
}
_DAY = re.compile(r"^\d{4}-\d\d-\d\d$")
_CURSOR_DAY = re.compile(r"^(\d{4}-\d\d-\d\d)T")


def _echo(value: str) -> str:
    return repr(value if len(value) <= ECHO else value[: ECHO - 1] + "…")


@dataclass
class Query:
    """What the page was asked for, checked; ``errors`` maps each bad
    parameter to what is wrong with it."""

    today: date
    day: date
    every_day: bool = False
    actor: str = ""
    action: str = ""
    target: str = ""
    limit: int = PAGE_SIZE
    cursor: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, params: QueryDict, today: date) -> Query:
        query = cls(today=today, day=today)
        query.actor = query._text(params, "actor")
        query.target = query._text(params, "target")
        query.action = params.get("action", "").strip()
        if query.action and query.action not in audit.ACTIONS:
            query.errors["action"] = (
                f"Unknown action {_echo(query.action)}: choose one from the list."
            )
        query._parse_every_day(params.get("every_day", ""))
        if not query.every_day:
            query._parse_day(params.get("day", "").strip())
        query._parse_limit(params.get("limit", "").strip())
        query._parse_cursor(params.get("cursor", "").strip())
        return query

    def _text(self, params: QueryDict, name: str) -> str:
        value = params.get(name, "").strip()
        if len(value) > MAX_FILTER:
            self.errors[name] = (
                f"At most {MAX_FILTER} characters (this is {len(value)}): the log stores "
                "nothing longer."
            )
        return value

    def _parse_every_day(self, raw: str) -> None:
        if raw not in ("", "1"):
            self.errors["every_day"] = f"Either 1 or nothing, not {_echo(raw)}."
            return
        self.every_day = raw == "1"
        if not self.every_day:
            return
        if not self.target:
            self.errors["every_day"] = (
                "Searching every day needs a target (a username, table or backup): "
                "enter one, or choose a day."
            )
        elif self.actor or self.action:
            self.errors["every_day"] = (
                "Searching every day finds a target's entries only: clear the actor and "
                "action filters, or choose a day to use them."
            )

    def _parse_day(self, raw: str) -> None:
        if not raw:
            return
        try:
            if not _DAY.match(raw):
                raise ValueError(raw)
            day = date.fromisoformat(raw)
        except ValueError:
            self.errors["day"] = (
                f"A date like {self.today.isoformat()} is needed, not {_echo(raw)}."
            )
            return
        if day > self.today:
            self.errors["day"] = (
                f"{raw} is after today ({self.today.isoformat()}, UTC): the log has nothing "
                "there yet."
            )
        elif day < FIRST_DAY:
            self.errors["day"] = f"The log begins after {FIRST_DAY.isoformat()}; {raw} is before."
        else:
            self.day = day

    def _parse_limit(self, raw: str) -> None:
        if not raw:
            return
        # The length test first: int() of thousands of digits is slow, then refused.
        digits = raw.lstrip("0") or "0"
        whole = raw.isascii() and raw.isdigit() and len(digits) <= len(str(audit.MAX_PAGE))
        if not whole or not 1 <= int(digits) <= audit.MAX_PAGE:
            self.errors["limit"] = (
                f"A whole number from 1 to {audit.MAX_PAGE} is needed, not {_echo(raw)}."
            )
            return
        self.limit = int(digits)

    def _parse_cursor(self, raw: str) -> None:
        if not raw:
            return
        self.cursor = raw
        cursor_day = _CURSOR_DAY.match(raw)
        if (
            cursor_day
            and not self.every_day
            and "day" not in self.errors
            and cursor_day.group(1) != self.day.isoformat()
        ):
            self.errors["cursor"] = (
                f"This next-page link belongs to {cursor_day.group(1)}, not "
                f"{self.day.isoformat()}: start again from the newest entries."
            )

    # --- Links -------------------------------------------------------------------------

    def params(self, **changes: Any) -> dict[str, str]:
        """The query string of this query with ``changes`` (None drops a
        parameter); empty and default values are left out."""
        values: dict[str, Any] = {
            "day": "" if self.every_day or self.day == self.today else self.day.isoformat(),
            "every_day": "1" if self.every_day else "",
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "limit": "" if self.limit == PAGE_SIZE else str(self.limit),
            "cursor": self.cursor,
        }
        values.update(changes)
        return {name: str(value) for name, value in values.items() if value}

    def url(self, **changes: Any) -> str:
        params = self.params(**changes)
        return reverse("ops:audit") + (f"?{urlencode(params)}" if params else "")


@dataclass(frozen=True)
class Row:
    entry: audit.AuditEntry
    detail: list[tuple[str, str]]
    badge: str
    target_url: str
    actor_url: str


def _rows(entries: list[audit.AuditEntry]) -> list[Row]:
    base = reverse("ops:audit")
    rows = []
    for entry in entries:
        day = entry.at.date().isoformat()
        actor_params = {"actor": entry.actor, "day": day}
        target_params = {"target": entry.target, "every_day": "1"}
        detail = entry.detail.as_dict() if entry.detail is not None else {}
        rows.append(
            Row(
                entry=entry,
                detail=sorted((str(key), str(value)) for key, value in detail.items()),
                badge=RESULT_BADGES.get(entry.result, ""),
                target_url=f"{base}?{urlencode(target_params)}" if entry.target else "",
                actor_url=f"{base}?{urlencode(actor_params)}",
            )
        )
    return rows


def _read(query: Query) -> audit.AuditPage:
    if query.every_day:
        return audit.entries_about(query.target, limit=query.limit, cursor=query.cursor or None)
    return audit.entries(
        query.day,
        limit=query.limit,
        cursor=query.cursor or None,
        actor=query.actor or None,
        action=query.action or None,
        target=query.target or None,
    )


def _aws_reason(error: Exception) -> str:
    """AWS's error code and message (PynamoDB wraps botocore's error)."""
    cause = getattr(error, "cause", None)
    return aws_error(cause if isinstance(cause, Exception) else error)


@require_GET
@staff_view(ANY_STAFF)
def index(request: HttpRequest, staff: Staff) -> HttpResponse:
    today = utcnow().date()
    query = Query.parse(request.GET, today)
    page: audit.AuditPage | None = None
    status, unavailable = 200, ""
    if not query.errors:
        try:
            page = _read(query)
        except ValidationFailed as invalid:
            for name, problems in (invalid.fields or {}).items():
                query.errors[name] = " ".join(str(problem) for problem in problems)
            if not query.errors:
                query.errors["cursor"] = invalid.message
        except (ClientError, BotoCoreError, PynamoDBException) as error:
            logger.exception("console audit: reading the log failed")
            status, unavailable = 503, f"The audit log could not be read: {_aws_reason(error)}."
    if query.errors:
        status = 400
    context: dict[str, Any] = {
        "staff": staff,
        "section": "audit",
        "query": query,
        "form": {name: request.GET.get(name, "") for name in LABELS},
        "errors": [(LABELS.get(name, name), message) for name, message in query.errors.items()],
        "unavailable": unavailable,
        "actions": sorted(audit.ACTIONS),
        "max_page": audit.MAX_PAGE,
        "max_filter": MAX_FILTER,
        "rows": _rows(page.entries) if page else [],
        "next_url": query.url(cursor=page.next_cursor) if page and page.next_cursor else "",
        "newest_url": query.url(cursor=None) if query.cursor else "",
        "clear_url": reverse("ops:audit"),
    }
    if not query.every_day:
        day = query.day
        context["previous_day_url"] = (
            query.url(day=(day - timedelta(days=1)).isoformat(), cursor=None)
            if day > FIRST_DAY
            else ""
        )
        context["next_day_url"] = (
            query.url(day=(day + timedelta(days=1)).isoformat(), cursor=None) if day < today else ""
        )
        context["today_url"] = query.url(day=None, cursor=None) if day != today else ""
    return render(request, "ops_admin/audit.html", context, status=status)


urlpatterns = [path("", index, name="audit")]
