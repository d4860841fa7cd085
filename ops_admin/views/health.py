"""The console's Health page: the ``health_check`` and ``security_check``
commands' checks, run on each visit and shown as two tables.

It only reads (GET; anything else is 405) and any staff member may look.
The checks are the commands' own (:mod:`lifestyle.health`,
:mod:`lifestyle.security`), so the page and ``zappa manage prod
health_check`` can never disagree. The health checks run without an API
URL: the page is served by that API, so its answering is the check. The
security checks judge the settings as a deployment's when the page runs in
a Lambda, and skip those checks with the reason when it runs locally.

:func:`lifestyle.checks.run_check` turns a failed, skipped or AWS-refused
check into a result, but lets any other exception through (a command
should show its traceback); a page must not, so each check here is wrapped
to turn an unexpected exception into a failed row naming it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET

from lifestyle import health, security
from lifestyle.checks import (
    FAIL,
    OK,
    SKIP,
    Check,
    CheckFailed,
    CheckResult,
    CheckSkipped,
    run_checks,
)
from lifestyle.timeutil import utcnow
from ops_admin.console import ANY_STAFF, staff_view
from ops_admin.staff_auth import Staff

logger = logging.getLogger(__name__)

# An unexpected exception's message is shown, cut to this length: enough to
# act on, never a dump.
MAX_BROKEN_DETAIL = 300
BADGES = {OK: "badge-ok", FAIL: "badge-bad", SKIP: "badge-skip"}


def contained(name: str, check: Check) -> Check:
    """``check``, with any exception :func:`run_check` would let through
    turned into a failure that says the check itself broke (and logged
    with its traceback for whoever fixes it)."""

    def guarded() -> str:
        try:
            return check()
        except (CheckFailed, CheckSkipped, ClientError, BotoCoreError):
            raise
        except Exception as error:
            logger.exception("console health: check %r raised", name)
            message = f"{type(error).__name__}: {error}"
            if len(message) > MAX_BROKEN_DETAIL:
                message = message[: MAX_BROKEN_DETAIL - 1] + "…"
            raise CheckFailed(f"the check itself broke ({message})") from None

    return guarded


def run_contained(title: str, listing: Callable[[], list[tuple[str, Check]]]) -> list[CheckResult]:
    """Every check ``listing`` names, each contained; if even listing them
    fails (say, an unreadable ``zappa_settings.json``), one failed row."""
    try:
        checks = listing()
    except Exception as error:
        logger.exception("console health: listing the %s checks raised", title)
        return [CheckResult(title, FAIL, f"the checks could not be listed ({error!r})", 0.0)]
    return run_checks([(name, contained(name, check)) for name, check in checks])


@dataclass(frozen=True)
class Summary:
    passed: int
    failed: list[str]
    skipped: int

    @classmethod
    def of(cls, results: Sequence[CheckResult]) -> Summary:
        return cls(
            passed=sum(result.status == OK for result in results),
            failed=[result.name for result in results if result.status == FAIL],
            skipped=sum(result.status == SKIP for result in results),
        )

    @property
    def ok(self) -> bool:
        return not self.failed

    def __str__(self) -> str:
        if self.failed:
            count = len(self.failed)
            text = f"{count} check{'s' if count != 1 else ''} fail{'s' if count == 1 else ''}"
            text += f" ({', '.join(self.failed)}), {self.passed} pass"
        elif not self.passed:
            text = "No check failed" if self.skipped else "No checks ran"
        else:
            text = "The 1 check passes" if self.passed == 1 else f"All {self.passed} checks pass"
        if self.skipped:
            text += f", {self.skipped} skipped"
        return text


@dataclass(frozen=True)
class Row:
    result: CheckResult
    badge: str


@dataclass(frozen=True)
class Table:
    anchor: str
    title: str
    explanation: str
    rows: list[Row]
    summary: Summary


def table(anchor: str, title: str, explanation: str, results: list[CheckResult]) -> Table:
    rows = [Row(result, BADGES.get(result.status, "")) for result in results]
    return Table(anchor, title, explanation, rows, Summary.of(results))


@require_GET
@staff_view(ANY_STAFF)
def index(request: HttpRequest, staff: Staff) -> HttpResponse:
    deployment = security.in_lambda()
    started = utcnow()
    health_results = run_contained("health checks", health.health_checks)
    security_results = run_contained(
        "security checks", lambda: security.security_checks(deployment=deployment)
    )
    tables = [
        table(
            "health",
            "Health",
            "What the API runs on: the table, its backups and TTL, the bucket, the user pool.",
            health_results,
        ),
        table(
            "security",
            "Security",
            (
                "The security checklist: encryption, versioning and public access, the running "
                "settings"
                + (
                    " (judged as a deployment's: this runs in Lambda)"
                    if deployment
                    else " (run locally: settings only a deployment needs are skipped)"
                )
                + ", and the deployment configuration."
            ),
            security_results,
        ),
    ]
    return render(
        request,
        "ops_admin/health.html",
        {
            "staff": staff,
            "section": "health",
            "tables": tables,
            "summary": Summary.of([*health_results, *security_results]),
            "checked_at": started,
        },
    )


urlpatterns = [path("", index, name="health")]
