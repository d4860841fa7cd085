"""What every console page shares: the session, flash messages and CSRF
checks (only here, never on the API), who is signed in, and who may do what.

Each view is wrapped by :func:`staff_view`, naming the groups allowed to use
it; the decorator is the one place permissions are enforced, on the server,
whatever the page shows. ``tests/ops/test_console_access.py`` walks the URL
configuration and fails if a console route lacks it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.decorators import decorator_from_middleware
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_protect

from ops_admin import revocations
from ops_admin.staff_auth import ADMIN, STAFF_GROUPS, Staff

SESSION_KEY = "staff"
ANY_STAFF = STAFF_GROUPS
ADMINS = frozenset({ADMIN})

# No script at all, styles only from our own static files, no framing, forms
# only to ourselves.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)

View = Callable[..., HttpResponse]

_with_session = decorator_from_middleware(SessionMiddleware)
_with_messages = decorator_from_middleware(MessageMiddleware)


def now_seconds() -> float:
    return time.time()


def _harden(response: HttpResponse) -> HttpResponse:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    # Pages name users and backups: no cache keeps a copy.
    response.headers["Cache-Control"] = "no-store"
    return response


def console_page(view: View) -> View:
    """Session, messages, CSRF and security headers around ``view``; for the
    sign-in page, which has no signed-in staff member yet."""

    @functools.wraps(view)
    def hardened(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return _harden(view(request, *args, **kwargs))

    return _with_session(_with_messages(csrf_protect(hardened)))


def signed_in(request: HttpRequest) -> Staff | None:
    """The staff member this request's session belongs to, if it is still
    good: not expired, and not revoked since (disabling a staff member ends
    their console sessions as it ends their API tokens)."""
    staff = Staff.from_session(request.session.get(SESSION_KEY))
    if staff is None or not staff.groups:
        return None
    if now_seconds() >= staff.expires_at:
        return None
    if revocations.is_revoked({"sub": staff.user_id, "auth_time": staff.signed_in_at}):
        return None
    return staff


def start_session(request: HttpRequest, staff: Staff) -> None:
    """A new session (a new cookie value, so nothing set before sign-in
    carries over) that the browser drops when the Cognito token expires."""
    request.session.flush()
    request.session[SESSION_KEY] = staff.as_session()
    request.session.set_expiry(max(1, int(staff.expires_at - now_seconds())))


def end_session(request: HttpRequest) -> None:
    request.session.flush()


def safe_next(request: HttpRequest, candidate: str | None) -> str:
    """Where to go after signing in: a path on this site, else the console's
    start page (never another site: no open redirect)."""
    home = reverse("ops:home")
    if not candidate or not candidate.startswith("/") or candidate.startswith("//"):
        return home
    allowed = url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return candidate if allowed else home


def _to_sign_in(request: HttpRequest, message: str | None) -> HttpResponse:
    if message:
        messages.info(request, message)
    target = reverse("ops:sign_in")
    if request.method == "GET":
        target += "?" + urlencode({"next": request.get_full_path()})
    return HttpResponseRedirect(target)


def forbidden(request: HttpRequest, staff: Staff | None, message: str) -> HttpResponse:
    return render(
        request, "ops_admin/forbidden.html", {"staff": staff, "message": message}, status=403
    )


def staff_view(groups: frozenset[str]) -> Callable[[View], View]:
    """Only signed-in members of ``groups`` reach the view, which is called
    as ``view(request, staff, ...)``; others are sent to sign in (no
    session) or answered 403 (signed in, wrong group)."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            had_session = SESSION_KEY in request.session
            staff = signed_in(request)
            if staff is None:
                if had_session:
                    end_session(request)
                    return _to_sign_in(request, "Your session has ended. Please sign in again.")
                return _to_sign_in(request, None)
            if not staff.groups & groups:
                return forbidden(
                    request,
                    staff,
                    f"This needs the {' or '.join(sorted(groups))} group; you are {staff.role}.",
                )
            request.staff = staff
            return view(request, staff, *args, **kwargs)

        checked.staff_groups = groups  # type: ignore[attr-defined]
        return console_page(checked)

    return decorate
