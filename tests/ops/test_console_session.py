"""Signing in to the staff console and what every console page shares:
Cognito checks the password, only staff groups get in, the session is a
signed HttpOnly cookie that ends with the Cognito token or on sign-out,
repeated failures are slowed down, CSRF and permissions hold on the server.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.contrib.sessions.backends.signed_cookies import SessionStore
from django.test import Client
from django.test.utils import override_settings
from django.urls import URLPattern, URLResolver, get_resolver

from lifestyle.aws import client
from ops_admin import audit, console, revocations, staff_auth, users
from ops_admin.staff_auth import DISABLED, NOT_STAFF, WRONG_CREDENTIALS
from tests.conftest import User, make_user
from tests.ops.conftest import SIGN_IN, console_for

HOME = "/ops/"
SIGN_OUT = "/ops/sign-out"
A_PAGE = "/ops/health"


def sign_in(browser: Client, username: str, password: str, **extra: str) -> Any:
    return browser.post(SIGN_IN, {"username": username, "password": password, **extra})


def session_of(browser: Client) -> dict[str, Any]:
    return dict(
        SessionStore(session_key=browser.cookies[settings.SESSION_COOKIE_NAME].value).load()
    )


def last_entry(target: str) -> audit.AuditEntry:
    return audit.entries_about(target, limit=1).entries[0]


# --- Who gets in ----------------------------------------------------------------------


@pytest.mark.parametrize("group", ["ops-support", "ops-admin"])
def test_staff_sign_in_and_land_on_the_console(aws_stack: dict[str, str], group: str) -> None:
    staff = make_user(aws_stack, group)
    browser = Client()

    response = sign_in(browser, staff.username, staff.password)

    assert response.status_code == 302
    assert response["Location"] == HOME
    page = browser.get(HOME, follow=True)
    assert page.status_code == 200
    text = page.content.decode()
    assert staff.username in text
    assert f"badge-{group}" in text
    assert f"Signed in as {staff.username} ({group})" in text
    entry = last_entry(staff.username)
    assert (entry.actor, entry.action, entry.result) == (staff.username, "sign_in", "ok")


def test_the_session_cookie_is_signed_httponly_lax_secure_and_holds_no_token(
    support: User,
) -> None:
    browser = Client()
    sign_in(browser, support.username, support.password)

    cookie = browser.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["secure"] is True  # outside local runs
    # It ends with the Cognito token (an hour here), not Django's default two weeks.
    assert 0 < int(cookie["max-age"]) <= 3600
    assert "eyJ" not in cookie.value  # no JWT inside, in any form
    stored = session_of(browser)[console.SESSION_KEY]
    assert stored["username"] == support.username
    assert stored["groups"] == ["ops-support"]
    assert set(stored) == {"username", "user_id", "groups", "signed_in_at", "expires_at"}


def test_wrong_password_and_unknown_user_get_the_same_clear_message(support: User) -> None:
    for username, password in [
        (support.username, "Not-the-password-1"),
        ("nobody-by-this-name", "Whatever-password-1"),
    ]:
        response = sign_in(Client(), username, password)
        assert response.status_code == 401
        assert WRONG_CREDENTIALS in response.content.decode()
        assert settings.SESSION_COOKIE_NAME not in response.cookies or not (
            response.cookies[settings.SESSION_COOKIE_NAME].value
        )
        entry = last_entry(username)
        assert (entry.action, entry.result) == ("sign_in_failed", "refused")
        assert entry.detail["reason"] == "wrong_credentials"


def test_a_user_outside_the_staff_groups_is_told_so(user: User) -> None:
    response = sign_in(Client(), user.username, user.password)

    assert response.status_code == 401
    assert NOT_STAFF in response.content.decode()
    assert last_entry(user.username).detail["reason"] == "not_staff"


def test_a_disabled_staff_member_is_told_so(admin: User, aws_stack: dict[str, str]) -> None:
    client("cognito-idp").admin_disable_user(
        UserPoolId=aws_stack["user_pool_id"], Username=admin.username
    )

    response = sign_in(Client(), admin.username, admin.password)

    assert response.status_code == 401
    assert DISABLED in response.content.decode()
    assert last_entry(admin.username).detail["reason"] == "disabled"


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("", "x", "This field is required."),
        ("someone", "", "This field is required."),
        ("x" * 129, "password", "at most 128 characters"),
        ("someone", "p" * 257, "at most 256 characters"),
        ("user\x00name", "Password-123", "Null characters are not allowed."),
        ("ünïcødé-用户", "Password-123", WRONG_CREDENTIALS),
        ("  ", "Password-123", "This field is required."),
    ],
)
def test_bad_sign_in_input_gets_a_message_not_an_error(
    username: str, password: str, message: str
) -> None:
    response = sign_in(Client(), username, password)

    assert response.status_code in {400, 401}
    assert message in response.content.decode()


def test_the_sign_in_page_never_echoes_the_password(support: User) -> None:
    response = sign_in(Client(), support.username, "Typed-Secret-Value-9")
    assert "Typed-Secret-Value-9" not in response.content.decode()


# --- Slowing down repeated failures ---------------------------------------------------


@pytest.fixture
def wall() -> Any:
    """The sign-in limiter's wall clock, moved by hand."""
    clock = mock.Mock(return_value=1_900_000_000.0)
    with mock.patch.object(staff_auth, "now_seconds", clock):
        yield clock


def test_repeated_failures_are_slowed_down_without_asking_cognito(
    support: User, wall: Any, aws_calls: Counter[str]
) -> None:
    free = settings.CONSOLE_FREE_FAILURES
    for _ in range(free):
        assert sign_in(Client(), support.username, "Wrong-password-1").status_code == 401

    aws_calls.clear()
    response = sign_in(Client(), support.username, support.password)  # even the right one

    assert response.status_code == 429
    wait = settings.CONSOLE_FAILURE_DELAY_SECONDS
    assert response["Retry-After"] == str(wait)
    assert f"Try again in {wait} s" in response.content.decode()
    assert aws_calls["cognito-idp.InitiateAuth"] == 0
    assert last_entry(support.username).detail["reason"] == "slowed_down"

    wall.return_value += wait
    assert sign_in(Client(), support.username, support.password).status_code == 302
    # A success forgets the failures.
    assert sign_in(Client(), support.username, "Wrong-password-1").status_code == 401
    assert sign_in(Client(), support.username, support.password).status_code == 302


def test_each_further_failure_doubles_the_wait_up_to_the_cap(support: User, wall: Any) -> None:
    waits = []
    for _ in range(settings.CONSOLE_FREE_FAILURES + 12):
        response = sign_in(Client(), support.username, "Wrong-password-1")
        if response.status_code == 429:
            waits.append(int(response["Retry-After"]))
            wall.return_value += int(response["Retry-After"])
            response = sign_in(Client(), support.username, "Wrong-password-1")
        assert response.status_code == 401

    assert waits[:3] == [2, 4, 8]
    assert max(waits) == settings.CONSOLE_MAX_DELAY_SECONDS
    # Failures older than the window are forgotten.
    wall.return_value += settings.CONSOLE_FAILURE_WINDOW_SECONDS + 1
    assert sign_in(Client(), support.username, support.password).status_code == 302


def test_failures_on_one_username_do_not_slow_another(
    support: User, admin: User, wall: Any
) -> None:
    for _ in range(settings.CONSOLE_FREE_FAILURES + 1):
        sign_in(Client(), support.username, "Wrong-password-1")
    assert sign_in(Client(), support.username, support.password).status_code == 429
    # The same name in other case and spacing is the same username.
    assert sign_in(Client(), f" {support.username.upper()} ", "x-Wrong-1").status_code == 429
    assert sign_in(Client(), admin.username, admin.password).status_code == 302


def test_the_failure_count_keeps_no_username_and_expires(support: User, wall: Any) -> None:
    sign_in(Client(), support.username, "Wrong-password-1")
    pk, sk = staff_auth._failures_key(support.username)
    item = staff_auth.SignInFailures.get(pk, sk)
    assert support.username not in pk
    assert item.failures == 1
    assert item.expires_at > wall.return_value  # DynamoDB's TTL removes it


# --- The session ----------------------------------------------------------------------


def test_the_session_ends_when_the_cognito_token_expires(support_console: Client) -> None:
    expires_at = session_of(support_console)[console.SESSION_KEY]["expires_at"]
    assert support_console.get(A_PAGE).status_code == 200

    with mock.patch.object(console, "now_seconds", return_value=expires_at):
        response = support_console.get(A_PAGE)

    assert response.status_code == 302
    assert response["Location"] == f"{SIGN_IN}?next={A_PAGE.replace('/', '%2F')}"
    page = support_console.get(response["Location"])
    assert "Your session has ended" in page.content.decode()
    # The expired session was dropped, not kept.
    assert support_console.get(A_PAGE).status_code == 302


def test_disabling_a_staff_member_ends_their_console_session(
    support: User, support_console: Client, admin: User
) -> None:
    assert support_console.get(A_PAGE).status_code == 200

    users.disable_user(support.username, actor=admin.username, reason="Left the company")
    revocations.cache.clear()

    response = support_console.get(A_PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith(SIGN_IN)


def test_sign_out_ends_the_session_and_is_audited(support: User) -> None:
    browser = console_for(support)

    response = browser.post(SIGN_OUT)

    assert response.status_code == 302
    assert response["Location"] == SIGN_IN
    assert browser.cookies[settings.SESSION_COOKIE_NAME].value == ""
    assert browser.get(A_PAGE).status_code == 302
    assert last_entry(support.username).action == "sign_out"


def test_sign_out_only_by_post(support_console: Client) -> None:
    assert support_console.get(SIGN_OUT).status_code == 405
    assert support_console.get(A_PAGE).status_code == 200


def test_signing_in_starts_a_fresh_session(support: User) -> None:
    """Session fixation: nothing planted in a session before sign-in survives it."""
    planted = SessionStore()
    planted["planted"] = "by an attacker"
    planted.save()
    browser = Client()
    browser.cookies[settings.SESSION_COOKIE_NAME] = planted.session_key

    sign_in(browser, support.username, support.password)

    assert browser.cookies[settings.SESSION_COOKIE_NAME].value != planted.session_key
    assert "planted" not in session_of(browser)


def test_a_forged_or_tampered_cookie_is_no_session(support: User) -> None:
    forged = Client()
    forged.cookies[settings.SESSION_COOKIE_NAME] = "eyJzdGFmZiI6e319:forged:signature"
    assert forged.get(A_PAGE).status_code == 302

    browser = console_for(support)
    value = browser.cookies[settings.SESSION_COOKIE_NAME].value
    browser.cookies[settings.SESSION_COOKIE_NAME] = "x" + value[1:]
    assert browser.get(A_PAGE).status_code == 302

    # A validly signed session naming no staff group gets nobody in.
    store = SessionStore()
    store[console.SESSION_KEY] = {
        "username": "someone",
        "user_id": "sub",
        "groups": ["app-users"],
        "signed_in_at": 0,
        "expires_at": 4_000_000_000,
    }
    store.save()
    crafted = Client()
    crafted.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    assert crafted.get(A_PAGE).status_code == 302


def test_the_console_refuses_an_api_token_and_the_api_a_console_cookie(
    admin: User, admin_console: Client
) -> None:
    bearer = Client(HTTP_AUTHORIZATION=f"Bearer {admin.access_token}")
    response = bearer.get(A_PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith(SIGN_IN)

    api = admin_console.get("/api/v1/goals")
    assert api.status_code == 401
    assert api.json()["error"]["code"] == "not_authenticated"


# --- Where sign-in sends you -----------------------------------------------------------


@pytest.mark.parametrize(
    ("next_url", "lands_on"),
    [
        ("/ops/health", "/ops/health"),
        ("https://evil.example/ops/", HOME),
        ("//evil.example/", HOME),
        ("/\\evil.example", HOME),
        ("javascript:alert(1)", HOME),
        ("", HOME),
    ],
)
def test_sign_in_goes_back_only_to_a_console_page(
    support: User, next_url: str, lands_on: str
) -> None:
    response = sign_in(Client(), support.username, support.password, next=next_url)
    assert response["Location"] == lands_on


def test_a_signed_in_visit_to_the_sign_in_page_goes_on(support_console: Client) -> None:
    response = support_console.get(f"{SIGN_IN}?next=/ops/audit")
    assert response.status_code == 302
    assert response["Location"] == "/ops/audit"


# --- CSRF and headers ------------------------------------------------------------------


def test_forms_without_a_csrf_token_are_refused(support: User) -> None:
    browser = Client(enforce_csrf_checks=True)
    response = sign_in(browser, support.username, support.password)
    assert response.status_code == 403
    assert "This form could not be accepted" in response.content.decode()
    assert response["Content-Type"].startswith("text/html")

    signed_in = console_for(support, enforce_csrf=True)
    refused = signed_in.post(SIGN_OUT)
    assert refused.status_code == 403
    assert signed_in.get(A_PAGE).status_code == 200  # still signed in

    token = signed_in.cookies["csrftoken"].value
    assert signed_in.post(SIGN_OUT, {"csrfmiddlewaretoken": token}).status_code == 302


def test_a_csrf_token_from_another_session_is_refused(support: User, admin: User) -> None:
    mine = console_for(support, enforce_csrf=True)
    theirs = console_for(admin, enforce_csrf=True)
    response = mine.post(SIGN_OUT, {"csrfmiddlewaretoken": theirs.cookies["csrftoken"].value})
    assert response.status_code == 403


def test_every_console_page_carries_the_security_headers(support_console: Client) -> None:
    for response in (Client().get(SIGN_IN), support_console.get(A_PAGE)):
        assert response["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
        assert "script-src" not in response["Content-Security-Policy"]  # default-src 'none'
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Cache-Control"] == "no-store"


def test_the_stylesheet_is_served_by_the_app_itself() -> None:
    response = Client().get(SIGN_IN)
    assert 'href="/static/ops_admin/console.css"' in response.content.decode()
    with override_settings(DEBUG=False):
        css = Client().get("/static/ops_admin/console.css")
    assert css.status_code == 200
    assert css["Content-Type"].startswith("text/css")


# --- Every route is guarded ------------------------------------------------------------


def _console_routes() -> list[tuple[str, Any]]:
    routes: list[tuple[str, Any]] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                routes.append((prefix + str(pattern.pattern), pattern.callback))

    resolver = get_resolver()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver) and str(pattern.pattern) == "ops/":
            walk(pattern.url_patterns, "/ops/")
    return routes


def test_every_console_route_but_sign_in_requires_a_staff_group() -> None:
    routes = _console_routes()
    assert len(routes) > 5
    for route, view in routes:
        if route == SIGN_IN:
            assert not hasattr(view, "staff_groups")
            continue
        groups = getattr(view, "staff_groups", None)
        assert groups, f"{route} is not wrapped by console.staff_view"
        assert groups <= staff_auth.STAFF_GROUPS


def test_anonymous_visitors_are_sent_to_sign_in_from_every_route() -> None:
    for route, _view in _console_routes():
        if route == SIGN_IN:
            continue
        path = re.sub(r"<[^>]+>", "someone", route)
        for method in ("get", "post"):
            response = getattr(Client(), method)(path)
            assert response.status_code in {302, 405}, (method, path, response.status_code)
            if response.status_code == 302:
                assert response["Location"].startswith(SIGN_IN), path


# --- Logs --------------------------------------------------------------------------------


def test_console_requests_are_logged_by_sub_without_passwords_or_cookies(
    support: User, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    browser = Client()
    sign_in(browser, support.username, "Wrong-Typed-Secret-1")
    sign_in(browser, support.username, support.password)
    browser.get(A_PAGE)

    lines = [r for r in caplog.records if r.name == "lifestyle.request"]
    assert [r.getMessage() for r in lines][-1] == "GET ops/health 200"
    assert lines[-1].fields["user_id"] == support.user_id  # type: ignore[attr-defined]
    written = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    cookie = browser.cookies[settings.SESSION_COOKIE_NAME].value
    for secret in (support.password, "Wrong-Typed-Secret-1", cookie):
        assert secret not in written
