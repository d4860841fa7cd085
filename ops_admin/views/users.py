"""The console's Users area: find a user, see them, and disable, enable or
sign them out everywhere.

Any staff member (ops-support or ops-admin) may look and act; every action
is a POST with a reason, done by :mod:`ops_admin.users` (the same functions
as ``manage.py disable_user`` / ``enable_user``, the same audit entries)
with the signed-in staff member as the actor, and ends on the user's page
with a message listing what was done, or what went wrong.

Two refusals are the server's, whatever the page shows: nobody disables
their own account (they could not undo it), and only ops-admin acts on a
staff account (ops-support locking out the admins who could undo it would
be the one action support cannot take back).

Pages:

- ``/ops/users``: search (``q``: a username or email prefix, or a whole
  sub; ``by`` to pick which), a page at a time (``page``: Cognito's
  pagination token, carried by the "Next page" link with the ``q`` and
  ``by`` it belongs to). Bad input is a 400 page saying what is wrong,
  sent to nobody.
- ``/ops/users/<username>``: Cognito's view (status, enabled, groups,
  dates, email, sub), our access record (who disabled them, when, why),
  their goals and newest activities, and the audit entries about them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, path, reverse
from django.views.decorators.http import require_GET, require_POST
from pynamodb.exceptions import PynamoDBException

from lifestyle.checks import aws_error
from lifestyle.errors import ApplicationError, NotFound, ValidationFailed
from ops_admin import audit, users
from ops_admin.console import ANY_STAFF, forbidden, staff_view
from ops_admin.staff_auth import ADMIN, Staff

logger = logging.getLogger(__name__)

AUDIT_ROWS = 20
SEARCH_LABELS = {
    "q": "Username, email or sub",
    "by": "Search in",
    "page": "Page",
    "limit": "Per page",
}
BY_CHOICES = [
    ("", "Username or email (guess)"),
    ("username", "Username starts with"),
    ("email", "Email starts with"),
    ("sub", "Sub is exactly"),
]
STATUS_BADGES = {
    "CONFIRMED": "badge-ok",
    "UNCONFIRMED": "badge-warn",
    "FORCE_CHANGE_PASSWORD": "badge-warn",
    "RESET_REQUIRED": "badge-warn",
    "COMPROMISED": "badge-bad",
    "ARCHIVED": "badge-bad",
}
_AWS_ERRORS = (ClientError, BotoCoreError, PynamoDBException)


def _problem_text(error: Exception) -> str:
    """A staff-facing sentence for an AWS failure (never a traceback).
    Cognito's "slow down" answers come through as botocore's errors."""
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        if code in users.COGNITO_BUSY:
            return f"AWS is throttling requests ({code}): try again in a minute."
    cause = getattr(error, "cause", None)  # PynamoDB wraps botocore's error
    return aws_error(cause if isinstance(cause, Exception) else error)


def _problem_page(
    request: HttpRequest, staff: Staff, *, title: str, message: str, status: int
) -> HttpResponse:
    return render(
        request,
        "ops_admin/user_problem.html",
        {"staff": staff, "section": "users", "title": title, "message": message},
        status=status,
    )


def _not_found(request: HttpRequest, staff: Staff, username: str) -> HttpResponse:
    return _problem_page(
        request,
        staff,
        title="No such user",
        message=f"The user pool has no user named “{username[:130]}”. Search for them by "
        "username, email or sub.",
        status=404,
    )


def _cognito_down(request: HttpRequest, staff: Staff, error: Exception) -> HttpResponse:
    logger.warning("console users: Cognito failed (%s)", type(error).__name__)
    if isinstance(error, users.UserAdminError):
        return _problem_page(
            request, staff, title="Cognito refused", message=error.message, status=502
        )
    return _problem_page(
        request,
        staff,
        title="Cognito did not answer",
        message=f"The user pool could not be read: {_problem_text(error)}",
        status=503,
    )


# --- The list -------------------------------------------------------------------------


def _search_url(page: users.UserPage, token: str | None) -> str:
    params = {"q": page.query, "by": page.by or "", "page": token or ""}
    query = urlencode({name: value for name, value in params.items() if value})
    return reverse("ops:users") + (f"?{query}" if query else "")


def _page_url(user: users.UserAccount) -> str:
    """The user's page, or "" for a username no URL here can carry (Cognito
    allows a "/" in one): listed, but acted on with ``manage.py``."""
    try:
        return reverse("ops:user", args=[user.username])
    except NoReverseMatch:
        return ""


@require_GET
@staff_view(ANY_STAFF)
def index(request: HttpRequest, staff: Staff) -> HttpResponse:
    form = {name: request.GET.get(name, "") for name in ("q", "by")}
    token = request.GET.get("page")
    page: users.UserPage | None = None
    errors: list[tuple[str, str]] = []
    status, unavailable = 200, ""
    try:
        page = users.search_users(form["q"], by=form["by"] or None, token=token)
    except ValidationFailed as invalid:
        status = 400
        for name, problems in (invalid.fields or {"q": [invalid.message]}).items():
            errors.append((SEARCH_LABELS.get(name, name), " ".join(map(str, problems))))
    except users.UserAdminError as refused:
        status, unavailable = 502, refused.message
    except _AWS_ERRORS as error:
        logger.warning("console users: searching failed (%s)", type(error).__name__)
        status, unavailable = 503, f"The user pool could not be searched: {_problem_text(error)}"
    context: dict[str, Any] = {
        "staff": staff,
        "section": "users",
        "form": form,
        "by_choices": BY_CHOICES,
        "max_search": users.MAX_SEARCH,
        "errors": errors,
        "unavailable": unavailable,
        "page": page,
        "rows": [
            (user, STATUS_BADGES.get(user.status, ""), _page_url(user))
            for user in (page.users if page else [])
        ],
        "matched": dict(BY_CHOICES).get(page.by or "", "") if page and page.by else "",
        "next_url": _search_url(page, page.next_token) if page and page.next_token else "",
        "first_url": _search_url(page, None) if page and token else "",
        "clear_url": reverse("ops:users"),
    }
    return render(request, "ops_admin/users.html", context, status=status)


# --- One user -------------------------------------------------------------------------


def _refusal(staff: Staff, detail: users.UserDetail, action: str) -> str | None:
    """Why ``staff`` may not ``action`` this user (None: they may)."""
    if action == "disable" and detail.account.user_id == staff.user_id:
        return (
            "You cannot disable your own account: you could not enable it again. "
            "Ask another member of staff."
        )
    if detail.is_staff and not staff.is_admin:
        return (
            f"{detail.account.username} is a staff account ({', '.join(detail.groups)}): only "
            f"{ADMIN} may disable, enable or sign out staff."
        )
    return None


def _user_or_page(
    request: HttpRequest, staff: Staff, username: str
) -> users.UserDetail | HttpResponse:
    """The user named in the URL, or the page that says why there is none."""
    try:
        return users.get_user(username)
    except NotFound:
        return _not_found(request, staff, username)
    except (users.UserAdminError, *_AWS_ERRORS) as error:
        return _cognito_down(request, staff, error)


@require_GET
@staff_view(ANY_STAFF)
def detail(request: HttpRequest, staff: Staff, username: str) -> HttpResponse:
    found = _user_or_page(request, staff, username)
    if isinstance(found, HttpResponse):
        return found
    account = found.account
    data: users.UserData | None = None
    data_problem = audit_problem = ""
    try:
        data = users.user_data(account.user_id)
    except _AWS_ERRORS as error:
        logger.warning("console users: reading their data failed (%s)", type(error).__name__)
        data_problem = f"Their goals and activities could not be read: {_problem_text(error)}"
    entries: audit.AuditPage | None = None
    try:
        entries = audit.entries_about(account.username, limit=AUDIT_ROWS)
    except ValidationFailed:
        entries = audit.AuditPage(entries=[], next_cursor=None)  # a name the log cannot hold
    except _AWS_ERRORS as error:
        logger.warning("console users: reading the audit log failed (%s)", type(error).__name__)
        audit_problem = f"The audit log could not be read: {_problem_text(error)}"
    access = account.access
    context = {
        "staff": staff,
        "section": "users",
        "detail": found,
        "account": account,
        "access": access,
        "status_badge": STATUS_BADGES.get(account.status, ""),
        "revoked_by_us": access is not None and access.disabled,
        "data": data,
        "data_problem": data_problem,
        "audit_entries": entries.entries if entries else [],
        "audit_more": bool(entries and entries.next_cursor),
        "audit_problem": audit_problem,
        "audit_log_url": reverse("ops:audit")
        + "?"
        + urlencode({"target": account.username, "every_day": "1"}),
        "not_before": datetime.fromtimestamp(int(access.not_before), UTC) if access else None,
        "cache_seconds": f"{settings.REVOCATION_CACHE_SECONDS:g}",
        "max_reason": users.MAX_REASON,
        "can_disable": not account.disabled,
        "can_enable": not account.enabled or (access is not None and access.disabled),
        "can_sign_out": account.enabled,
        "disable_refusal": _refusal(staff, found, "disable"),
        "act_refusal": _refusal(staff, found, "act"),
    }
    return render(request, "ops_admin/user.html", context)


# --- Actions --------------------------------------------------------------------------

# users.disable_user, users.enable_user or users.sign_out_everywhere
Change = Callable[..., users.UserActionResult]
# What a failure leaves behind: every step is safe to run again.
PARTIAL = (
    "Steps done before the failure stay done; doing it again completes it (the audit log "
    "records the failure)."
)


def _done_text(result: users.UserActionResult) -> tuple[bool, str]:
    """(changed, the message staff read) for an action's result."""
    user = result.user
    if result.action == "disable" and not result.changed:
        access = user.access
        by = (
            f" (by {access.disabled_by} at {access.disabled_at:%Y-%m-%d %H:%M} UTC)"
            if (access is not None and access.disabled_by and access.disabled_at)
            else ""
        )
        return False, f"{user.username} is already disabled{by}: nothing to do."
    if result.action == "enable" and not result.changed:
        return False, f"{user.username} is not disabled: nothing to do."
    done = {"disable": "Disabled", "enable": "Enabled", "sign_out": "Signed out"}[result.action]
    return True, f"{done} {user.username}: " + "; ".join(result.steps) + "."


def _act(
    request: HttpRequest, staff: Staff, username: str, *, action: str, change: Change
) -> HttpResponse:
    """Check the user and the staff member's right, run ``change`` with the
    form's reason, and go back to the user's page with the outcome."""
    found = _user_or_page(request, staff, username)
    if isinstance(found, HttpResponse):
        return found
    refusal = _refusal(staff, found, action)
    if refusal:
        return forbidden(request, staff, refusal)
    name = found.account.username
    what = {"disable": "Disabling", "enable": "Enabling", "sign_out": "Signing out"}[action]
    try:
        result = change(
            name, actor=staff.username, reason=request.POST.get("reason", ""), username_only=True
        )
    except ValidationFailed as invalid:
        problems = invalid.fields or {}
        if "reason" in problems:
            reason = " ".join(map(str, problems["reason"]))
            messages.error(request, f"{what} {name} needs a reason: {reason} Nothing was changed.")
        else:
            found_problems = "; ".join(
                f"{field}: {' '.join(map(str, texts))}" for field, texts in problems.items()
            )
            messages.error(
                request, f"{what} {name} was refused: {found_problems or invalid.message}"
            )
    except NotFound:
        return _not_found(request, staff, username)  # deleted since the check above
    except ApplicationError as error:
        logger.warning("console users: %s failed (%s)", action, type(error).__name__)
        messages.error(request, f"{what} {name} failed: {error.message} {PARTIAL}")
    except _AWS_ERRORS as error:
        logger.warning("console users: %s failed (%s)", action, type(error).__name__)
        messages.error(request, f"{what} {name} failed: {_problem_text(error)} {PARTIAL}")
    else:
        changed, text = _done_text(result)
        (messages.success if changed else messages.info)(request, text)
    return HttpResponseRedirect(reverse("ops:user", args=[name]))


@require_POST
@staff_view(ANY_STAFF)
def disable(request: HttpRequest, staff: Staff, username: str) -> HttpResponse:
    return _act(request, staff, username, action="disable", change=users.disable_user)


@require_POST
@staff_view(ANY_STAFF)
def enable(request: HttpRequest, staff: Staff, username: str) -> HttpResponse:
    return _act(request, staff, username, action="enable", change=users.enable_user)


@require_POST
@staff_view(ANY_STAFF)
def sign_out_everywhere(request: HttpRequest, staff: Staff, username: str) -> HttpResponse:
    return _act(request, staff, username, action="sign_out", change=users.sign_out_everywhere)


urlpatterns = [
    path("", index, name="users"),
    path("/<str:username>", detail, name="user"),
    path("/<str:username>/disable", disable, name="user_disable"),
    path("/<str:username>/enable", enable, name="user_enable"),
    path("/<str:username>/sign-out-everywhere", sign_out_everywhere, name="user_sign_out"),
]
