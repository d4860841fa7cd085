"""The console's Users area against moto, through the real path: a signed-in
console client, the views, ops_admin.users, moto's Cognito and the table,
and the API refusing (or accepting) the user's tokens afterwards.

The revocation list is reread once per ``REVOCATION_CACHE_SECONDS``: the
``clock`` fixture (tests/ops/test_users.py's, autouse here too) moves that
clock by hand. Each test makes its own users; searches use a prefix no
other test's users share, since the user pool is the whole session's.
"""

from __future__ import annotations

import html
import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from django.conf import settings
from django.test import Client

from lifestyle.aws import client
from lifestyle.provisioning import ensure_user, sign_in
from lifestyle.timeutil import utcnow
from ops_admin import audit, revocations, users
from tests.conftest import PASSWORD, User, make_user
from tests.ops.conftest import SIGN_IN, console_for
from tests.ops.test_users import (  # the revocation clock and its helpers
    assert_ok,
    assert_revoked,
    clock,  # noqa: F401 (an autouse fixture)
    cognito_user,
    later,
    next_second,
)
from tests.test_deploy_config import (  # the IAM coverage check's recorder
    Call,
    denied_requests,
    recorded,  # noqa: F401 (a fixture)
)

USERS = "/ops/users"
GOALS = "/api/v1/goals"
REASON = "Account takeover reported by the user"
COGNITO_LIST = "cognito-idp.ListUsers"
DAY = utcnow().date() - timedelta(days=30)  # the day the tests' goals start and log


def page_of(user: User | str) -> str:
    return f"{USERS}/{user if isinstance(user, str) else user.username}"


def text_of(response: Any) -> str:
    """The page's visible text, tags dropped and whitespace folded."""
    page = response.content.decode()
    page = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", page, flags=re.DOTALL)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def listed(response: Any) -> list[str]:
    """The usernames in a search page's table, in order."""
    assert response.status_code == 200, response.content.decode()
    names = re.findall(
        r'<tr class="user-row">\s*<th scope="row" class="user-name">(?:<a href="[^"]*">)?(.*?)'
        r"(?:</a>| <span)",
        response.content.decode(),
        re.DOTALL,
    )
    return [html.unescape(name) for name in names]


def next_link(response: Any) -> str | None:
    found = re.search(
        r'<a class="button" href="([^"]*)" rel="next">Next page</a>', response.content.decode()
    )
    return html.unescape(found.group(1)) if found else None


def flashes(browser: Client, response: Any) -> str:
    """The flash messages shown on the page a POST redirected to."""
    assert response.status_code == 302, response.content.decode()
    shown = browser.get(response["Location"])
    assert shown.status_code == 200
    found = re.findall(
        r'<li class="message message-(\w+)">(.*?)</li>', shown.content.decode(), re.DOTALL
    )
    # The sign-in's own message waits for the first page shown after it.
    return "\n".join(
        f"{level}: {html.unescape(text)}"
        for level, text in found
        if not text.startswith("Signed in as ")
    )


def act(browser: Client, user: User | str, action: str, reason: str | None = REASON) -> Any:
    data = {} if reason is None else {"reason": reason}
    return browser.post(f"{page_of(user)}/{action}", data)


def audit_about(username: str) -> list[tuple[str, str, str, dict[str, str]]]:
    return [
        (entry.action, entry.actor, entry.result, entry.detail.as_dict())
        for entry in audit.entries_about(username).entries
    ]


@pytest.fixture
def tag() -> str:
    """A prefix no other test's users share."""
    return f"t{uuid.uuid4().hex[:10]}"


def add_user(stack: dict[str, str], username: str, email: str) -> None:
    ensure_user(stack["user_pool_id"], username=username, password=PASSWORD, email=email)


# --- searching -------------------------------------------------------------------------------


def test_search_by_username_prefix_email_prefix_or_sub(
    aws_stack: dict[str, str], support_console: Client, tag: str
) -> None:
    add_user(aws_stack, f"{tag}-ana", f"mail-{tag}-ana@example.org")
    add_user(aws_stack, f"{tag}-ben", f"mail-{tag}-ben@example.org")
    add_user(aws_stack, f"other-{tag}", f"{tag}-zed@example.org")

    def search(**params: str) -> list[str]:
        return sorted(listed(support_console.get(USERS, params)))

    # Guessed: plain text is a username prefix first...
    assert search(q=tag) == [f"{tag}-ana", f"{tag}-ben"]
    assert search(q=f"{tag}-a") == [f"{tag}-ana"]
    # ... then an email prefix, when no username starts so.
    assert search(q=f"mail-{tag}") == [f"{tag}-ana", f"{tag}-ben"]
    # Text with an @ is an email prefix first.
    assert search(q=f"mail-{tag}-ben@ex") == [f"{tag}-ben"]
    assert search(q=f"{tag}-zed@") == [f"other-{tag}"]
    # Chosen: only that attribute.
    assert search(q=tag, by="email") == [f"other-{tag}"]
    assert search(q=f"mail-{tag}", by="username") == []
    # A whole sub finds exactly its user, in any case.
    sub = users.find_user(f"{tag}-ben").user_id
    for text in (sub, sub.upper(), f"  {sub} "):
        assert search(q=text) == [f"{tag}-ben"]
        assert search(q=text, by="sub") == [f"{tag}-ben"]
    assert search(q=str(uuid.uuid4())) == []


def test_the_results_table_shows_cognitos_view(
    aws_stack: dict[str, str], support_console: Client, tag: str
) -> None:
    add_user(aws_stack, f"{tag}-on", f"{tag}-on@example.org")
    add_user(aws_stack, f"{tag}-off", f"{tag}-off@example.org")
    client("cognito-idp").admin_disable_user(
        UserPoolId=aws_stack["user_pool_id"], Username=f"{tag}-off"
    )
    response = support_console.get(USERS, {"q": tag})
    assert sorted(listed(response)) == [f"{tag}-off", f"{tag}-on"]
    rows = {
        name: text_of(SimpleNamespace(content=row.encode()))
        for name, row in zip(
            listed(response),
            re.findall(r'<tr class="user-row">(.*?)</tr>', response.content.decode(), re.DOTALL),
            strict=True,
        )
    }
    year = str(utcnow().year)
    assert rows[f"{tag}-on"].startswith(f"{tag}-on {tag}-on@example.org CONFIRMED enabled {year}-")
    assert rows[f"{tag}-off"].startswith(f"{tag}-off {tag}-off@example.org CONFIRMED disabled ")
    assert f'href="{page_of(f"{tag}-on")}"' in response.content.decode()
    assert f"Username starts with “{tag}”" in text_of(response)


def create_users(stack: dict[str, str], names: set[str]) -> None:
    cognito = client("cognito-idp")
    for name in names:
        cognito.admin_create_user(
            UserPoolId=stack["user_pool_id"],
            Username=name,
            UserAttributes=[{"Name": "email", "Value": f"{name}@example.org"}],
            MessageAction="SUPPRESS",
        )


def test_without_a_search_everyone_is_listed_a_page_at_a_time(
    aws_stack: dict[str, str], support_console: Client, aws_calls: Counter[str], tag: str
) -> None:
    create_users(aws_stack, {f"{tag}-{number:02}" for number in range(users.PAGE_SIZE + 1)})
    aws_calls.clear()
    response = support_console.get(USERS)
    assert len(listed(response)) == users.PAGE_SIZE
    assert "All users" in text_of(response)
    assert aws_calls[COGNITO_LIST] == 1
    link = next_link(response)
    assert link is not None
    assert set(parse_qs(urlsplit(link).query)) == {"page"}
    assert listed(support_console.get(link))


def test_pages_follow_cognitos_pagination_token(
    aws_stack: dict[str, str], support_console: Client, tag: str
) -> None:
    names = {f"{tag}-{number:02}" for number in range(users.PAGE_SIZE + 2)}
    create_users(aws_stack, names)

    first = support_console.get(USERS, {"q": tag})
    shown = listed(first)
    assert len(shown) == users.PAGE_SIZE
    assert "First page" not in text_of(first)
    link = next_link(first)
    assert link is not None
    params = parse_qs(urlsplit(link).query)
    assert params["q"] == [tag]
    assert params["by"] == ["username"]  # the next page keeps the filter it belongs to
    assert params["page"]

    second = support_console.get(link)
    shown += listed(second)
    assert sorted(shown) == sorted(names)  # each user once
    assert next_link(second) is None
    assert "First page" in text_of(second)
    first_link = re.search(
        r'<a class="button" href="([^"]*)">First page</a>', second.content.decode()
    )
    assert first_link is not None
    assert listed(support_console.get(html.unescape(first_link.group(1)))) == listed(first)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": 'ana"'}, "without quotes, backslashes or control characters"),
        ({"q": "ana\\"}, "without quotes, backslashes or control characters"),
        ({"q": "ana\x00"}, "without quotes, backslashes or control characters"),
        ({"q": "ana\u202e"}, "without quotes, backslashes or control characters"),
        ({"q": "x" * 201}, "at most 200 characters (this is 201)"),
        ({"q": "ana", "by": "phone_number"}, "Search in: Search by username, email, sub"),
        ({"q": "not-a-uuid", "by": "sub"}, "A sub is a whole UUID"),
        ({"q": "ana", "page": "tok"}, "This next-page link is incomplete"),
        ({"q": "ana", "by": "username", "page": "t\x01k"}, "This next-page link is damaged"),
        ({"page": "x" * 4097}, "This next-page link is damaged"),
    ],
    ids=[
        "quote",
        "backslash",
        "nul",
        "bidi-control",
        "too-long",
        "unknown-by",
        "sub-not-uuid",
        "token-without-by",
        "token-control",
        "token-too-long",
    ],
)
def test_bad_searches_are_refused_before_cognito_is_asked(
    support_console: Client, aws_calls: Counter[str], params: dict[str, str], message: str
) -> None:
    response = support_console.get(USERS, params)
    assert response.status_code == 400
    text = text_of(response)
    assert "This search cannot be run:" in text
    assert message in text
    assert "Nothing shown: see above." in text
    assert aws_calls[COGNITO_LIST] == 0


def test_a_page_link_cognito_did_not_give_out_is_a_clear_400(
    support_console: Client, tag: str
) -> None:
    response = support_console.get(USERS, {"q": tag, "by": "username", "page": "forged-token"})
    assert response.status_code == 400
    assert "This next-page link no longer works" in text_of(response)


def test_unicode_searches_run_and_find_their_users(
    aws_stack: dict[str, str], support_console: Client, tag: str
) -> None:
    add_user(aws_stack, f"{tag}-zoë", f"{tag}-zoe@example.org")
    assert listed(support_console.get(USERS, {"q": f"{tag}-zo"})) == [f"{tag}-zoë"]
    assert listed(support_console.get(USERS, {"q": "日本語-" + tag})) == []


def test_odd_usernames_are_escaped_linked_and_acted_on(
    aws_stack: dict[str, str], support_console: Client, tag: str
) -> None:
    odd = f"{tag}<i>&'\"?#+ü"
    slashed = f"{tag}-a/b"
    add_user(aws_stack, odd, f"{tag}-odd@example.org")
    add_user(aws_stack, slashed, f"{tag}-slash@example.org")
    response = support_console.get(USERS, {"q": tag, "by": "username"})
    assert sorted(listed(response)) == sorted([odd, slashed])
    page = response.content.decode()
    assert "<i>" not in page
    assert "/ops/users/" + quote(odd, safe="!$&'()*+,;=/~:@") in html.unescape(page)
    assert f"{html.escape(slashed)} <span" in page  # listed, without a link
    shown = support_console.get(page_of(quote(odd)))
    assert shown.status_code == 200
    assert f"Username {odd} " in text_of(shown)
    assert "<i>" not in shown.content.decode()
    done = flashes(support_console, act(support_console, quote(odd), "disable"))
    assert done.startswith(f"success: Disabled {odd}: ")
    assert users.find_user(odd, username_only=True).disabled


@pytest.mark.parametrize(
    "fault",
    [
        ClientError({"Error": {"Code": "TooManyRequestsException"}}, "ListUsers"),
        EndpointConnectionError(endpoint_url="https://cognito-idp.example"),
    ],
    ids=["throttled", "unreachable"],
)
def test_cognito_failing_is_a_503_page_not_a_500(support_console: Client, fault: Exception) -> None:
    with mock.patch.object(client("cognito-idp"), "list_users", side_effect=fault):
        response = support_console.get(USERS, {"q": "ana"})
    assert response.status_code == 503
    assert "The user pool could not be searched" in text_of(response)


def test_cognito_refusing_is_a_502_naming_its_error(support_console: Client) -> None:
    refused = ClientError({"Error": {"Code": "AccessDeniedException"}}, "ListUsers")
    with mock.patch.object(client("cognito-idp"), "list_users", side_effect=refused):
        response = support_console.get(USERS)
    assert response.status_code == 502
    assert "Cognito refused ListUsers: AccessDeniedException." in text_of(response)


# --- one user's page ---------------------------------------------------------------------------


def make_goal(user: User, title: str) -> str:
    goal = {"title": title, "kind": "count", "target": "5", "start_date": DAY.isoformat()}
    created = user.client().post(GOALS, goal, "json")
    assert created.status_code == 201, created.content
    return str(created.json()["id"])


def log_activity(user: User, goal_id: str, when: datetime, value: int) -> None:
    logged = user.client().post(
        f"{GOALS}/{goal_id}/activities", {"occurred_at": when.isoformat(), "value": value}, "json"
    )
    assert logged.status_code == 201, logged.content


def test_the_user_page_shows_cognito_groups_and_their_data(
    aws_stack: dict[str, str], user: User, support_console: Client, dynamo_calls: Any
) -> None:
    group = f"testers-{uuid.uuid4().hex[:8]}"
    cognito = client("cognito-idp")
    cognito.create_group(UserPoolId=aws_stack["user_pool_id"], GroupName=group)
    cognito.admin_add_user_to_group(
        UserPoolId=aws_stack["user_pool_id"], Username=user.username, GroupName=group
    )
    walk, read = make_goal(user, "Walk <daily>"), make_goal(user, "Read")
    start = datetime(DAY.year, DAY.month, DAY.day, 8, 0, tzinfo=UTC)
    for number in range(12):
        log_activity(
            user, walk if number % 2 else read, start + timedelta(hours=number), number + 1
        )
    assert user.client().post(f"{GOALS}/{read}/archive").status_code == 200

    dynamo_calls.reset()
    response = support_console.get(page_of(user))
    assert response.status_code == 200
    text = text_of(response)
    assert f"Username {user.username} Email {user.username}@example.com verified" in text
    assert f"Sub {user.user_id} Status CONFIRMED Sign-in enabled Groups {group}" in text
    assert re.search(r"Created \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC Last modified \d{4}-", text)
    assert "Staff have never disabled or signed out this user." in text
    assert "Goals 2 (1 active, 1 archived)" in text
    rows = re.findall(r'<tr class="user-activity">(.*?)</tr>', response.content.decode(), re.DOTALL)
    assert len(rows) == users.RECENT_ACTIVITIES  # the newest ten of twelve, newest first
    first = text_of(SimpleNamespace(content=rows[0].encode()))
    assert first.startswith(f"{DAY} 19:00 Walk <daily> {walk} 12 {DAY} 0")
    last = text_of(SimpleNamespace(content=rows[-1].encode()))
    assert last.startswith(f"{DAY} 10:00 Read {read} 3 ")
    assert "Walk &lt;daily&gt;" in response.content.decode()  # escaped
    assert "No audit entries about this user yet." in text
    # Their goals and activities: one Query each (plus the access record and the audit log's).
    assert dynamo_calls().get("Query") == 3
    assert "Scan" not in dynamo_calls()


def test_a_user_without_goals_or_activities(user: User, support_console: Client) -> None:
    text = text_of(support_console.get(page_of(user)))
    assert "Goals 0 Activities none" in text
    assert "Recent activities" not in text


def test_the_user_page_shows_who_disabled_them_and_the_audit_log(
    user: User, support: User, support_console: Client
) -> None:
    act(support_console, user, "disable")
    text = text_of(support_console.get(page_of(user)))
    assert "disabled in Cognito only" not in text
    assert re.search(
        rf"Disabled \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC by {support.username} Why {REASON}", text
    )
    assert "Now disabled API refuses tokens from sign-ins up to" in text
    entries = re.findall(
        r'<tr class="audit-entry">(.*?)</tr>',
        support_console.get(page_of(user)).content.decode(),
        re.DOTALL,
    )
    assert len(entries) == 1
    entry = text_of(SimpleNamespace(content=entries[0].encode()))
    assert entry.endswith(f"{support.username} disable_user ok reason: {REASON}")
    assert f"target={user.username}" in support_console.get(page_of(user)).content.decode()


def test_an_unknown_user_is_a_404_page(support_console: Client) -> None:
    for username in (f"nobody-{uuid.uuid4().hex}", "has space", "x" * 129, "tab\tname"):
        response = support_console.get(page_of(username))
        assert response.status_code == 404
        assert response["Content-Type"].startswith("text/html")
        assert "No such user" in text_of(response)
        assert response["Cache-Control"] == "no-store"


def test_a_cognito_failure_on_the_user_page_is_a_clear_page(
    user: User, support_console: Client
) -> None:
    busy = ClientError({"Error": {"Code": "TooManyRequestsException"}}, "AdminGetUser")
    with mock.patch.object(client("cognito-idp"), "admin_get_user", side_effect=busy):
        response = support_console.get(page_of(user))
    assert response.status_code == 503
    assert "AWS is throttling requests (TooManyRequestsException)" in text_of(response)


def test_a_dynamodb_failure_still_shows_cognitos_part(user: User, support_console: Client) -> None:
    from pynamodb.exceptions import QueryError

    with mock.patch("ops_admin.users.activity_list", side_effect=QueryError("down")):
        response = support_console.get(page_of(user))
    assert response.status_code == 200
    text = text_of(response)
    assert "Their goals and activities could not be read" in text
    assert user.user_id in text


# --- disabling, enabling, signing out ----------------------------------------------------------


@pytest.mark.parametrize("role", ["ops-support", "ops-admin"])
def test_disabling_in_the_console_refuses_the_users_tokens_and_enabling_admits_new_sign_ins(
    aws_stack: dict[str, str],
    user: User,
    role: str,
    clock: SimpleNamespace,  # noqa: F811
) -> None:
    staff = make_user(aws_stack, role)
    browser = console_for(staff)
    assert_ok(user.client().get(GOALS))

    shown = flashes(browser, act(browser, user, "disable"))
    assert shown.startswith(f"success: Disabled {user.username}: disabled in Cognito: ")
    assert "signed out everywhere: refresh tokens revoked" in shown
    assert "API refuses their tokens from sign-ins up to " in shown
    assert cognito_user(user)["Enabled"] is False
    status = revocations.account_status(user.user_id)
    assert status is not None
    assert (status.disabled, status.disabled_by, status.disabled_reason) == (
        True,
        staff.username,
        REASON,
    )
    later(clock)
    assert_revoked(user.client().get(GOALS))
    assert_revoked(user.client(user.id_token).get(GOALS))

    shown = flashes(browser, act(browser, user, "enable", "Owner verified by phone"))
    assert shown.startswith(f"success: Enabled {user.username}: enabled in Cognito")
    assert cognito_user(user)["Enabled"] is True
    later(clock)
    assert_revoked(user.client().get(GOALS))  # from before: still refused
    next_second()
    fresh = sign_in(aws_stack["app_client_id"], user.username, PASSWORD)
    assert_ok(user.client(fresh["AccessToken"]).get(GOALS))

    assert audit_about(user.username) == [
        ("enable_user", staff.username, "ok", {"reason": "Owner verified by phone"}),
        ("disable_user", staff.username, "ok", {"reason": REASON}),
    ]


def test_sign_out_everywhere_refuses_held_tokens_but_leaves_the_user_enabled(
    aws_stack: dict[str, str],
    user: User,
    support: User,
    support_console: Client,
    clock: SimpleNamespace,  # noqa: F811
) -> None:
    refresh = sign_in(aws_stack["app_client_id"], user.username, PASSWORD)["RefreshToken"]
    shown = flashes(support_console, act(support_console, user, "sign-out-everywhere"))
    assert shown.startswith(f"success: Signed out {user.username}: signed out everywhere: ")
    assert shown.rstrip().endswith("; new sign-ins work.")
    later(clock)
    assert_revoked(user.client().get(GOALS))
    assert_revoked(user.client(user.id_token).get(GOALS))
    assert cognito_user(user)["Enabled"] is True
    with pytest.raises(ClientError, match="NotAuthorizedException"):  # Cognito revoked it
        client("cognito-idp").initiate_auth(
            ClientId=aws_stack["app_client_id"],
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": refresh},
        )
    status = revocations.account_status(user.user_id)
    assert status is not None
    assert (status.disabled, status.signed_out_by, status.signed_out_reason) == (
        False,
        support.username,
        REASON,
    )
    assert (status.disabled_by, status.enabled_by) == (None, None)
    next_second()
    fresh = sign_in(aws_stack["app_client_id"], user.username, PASSWORD)
    assert_ok(user.client(fresh["AccessToken"]).get(GOALS))
    assert audit_about(user.username) == [
        ("global_sign_out", support.username, "ok", {"reason": REASON})
    ]
    text = text_of(support_console.get(page_of(user)))
    assert re.search(rf"Signed out \S+ \S+ UTC by {support.username} Why {REASON}", text)
    assert "Now allowed API refuses tokens from sign-ins up to" in text


def test_signing_out_a_disabled_user_keeps_them_disabled(
    user: User, support_console: Client
) -> None:
    act(support_console, user, "disable")
    shown = flashes(support_console, act(support_console, user, "sign-out-everywhere"))
    assert shown.rstrip().endswith("; they stay disabled.")
    status = revocations.account_status(user.user_id)
    assert status is not None
    assert status.disabled is True
    assert cognito_user(user)["Enabled"] is False


def test_doing_it_twice_says_there_is_nothing_to_do(
    user: User, support: User, support_console: Client
) -> None:
    shown = flashes(support_console, act(support_console, user, "enable"))
    assert shown == f"info: {user.username} is not disabled: nothing to do."
    flashes(support_console, act(support_console, user, "disable"))
    shown = flashes(support_console, act(support_console, user, "disable"))
    assert re.fullmatch(
        rf"info: {user.username} is already disabled \(by {support.username} at "
        r"\d{4}-\d\d-\d\d \d\d:\d\d UTC\): nothing to do\.",
        shown,
    )
    assert [entry[0] for entry in audit_about(user.username)] == ["disable_user"]


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        (None, "Say why: it is recorded with the change."),
        ("   ", "Say why: it is recorded with the change."),
        ("x" * 501, "At most 500 printable characters."),
        ("why\x00not", "At most 500 printable characters."),
    ],
    ids=["missing", "blank", "too-long", "control"],
)
@pytest.mark.parametrize("action", ["disable", "enable", "sign-out-everywhere"])
def test_an_action_without_a_good_reason_changes_nothing(
    user: User, support_console: Client, action: str, reason: str | None, message: str
) -> None:
    shown = flashes(support_console, act(support_console, user, action, reason))
    assert shown.startswith("error: ")
    assert f"needs a reason: {message} Nothing was changed." in shown
    assert cognito_user(user)["Enabled"] is True
    assert revocations.account_status(user.user_id) is None
    assert audit_about(user.username) == []


def test_a_reason_may_be_long_unicode_and_multiline(user: User, support_console: Client) -> None:
    """As a browser sends a textarea: line breaks as CRLF, 500 characters
    counting each break once."""
    reason = ("Ticket #42 — ünïcødé ✓\nsecond line " * 20)[:500].strip()
    sent = reason.replace("\n", "\r\n")
    assert len(sent) > 500
    shown = flashes(support_console, act(support_console, user, "disable", sent))
    assert shown.startswith("success: ")
    status = revocations.account_status(user.user_id)
    assert status is not None
    assert status.disabled_reason == reason
    page = support_console.get(page_of(user)).content.decode()
    assert html.escape(reason) in page  # shown with its line breaks (pre-wrap)


@pytest.mark.parametrize("role", ["ops-support", "ops-admin"])
def test_staff_cannot_disable_themselves(aws_stack: dict[str, str], role: str) -> None:
    staff = make_user(aws_stack, role)
    browser = console_for(staff)
    response = act(browser, staff, "disable")
    assert response.status_code == 403
    assert "You cannot disable your own account" in text_of(response)
    assert cognito_user(staff)["Enabled"] is True
    assert revocations.account_status(staff.user_id) is None
    page = browser.get(page_of(staff))
    assert "button-danger" not in page.content.decode()
    if role == "ops-admin":  # ops-support sees that staff accounts are ops-admin's
        assert "You cannot disable your own account" in text_of(page)


def test_only_ops_admin_acts_on_staff_accounts(
    admin: User,
    support: User,
    support_console: Client,
    admin_console: Client,
    aws_stack: dict[str, str],
) -> None:
    other_support = make_user(aws_stack, "ops-support")
    for target in (admin, other_support):
        for action in ("disable", "enable", "sign-out-everywhere"):
            response = act(support_console, target, action)
            assert response.status_code == 403, action
            assert "only ops-admin may disable, enable or sign out staff" in text_of(response)
        assert cognito_user(target)["Enabled"] is True
        assert "only ops-admin may" in text_of(support_console.get(page_of(target)))
    shown = flashes(admin_console, act(admin_console, other_support, "disable"))
    assert shown.startswith(f"success: Disabled {other_support.username}")
    assert audit_about(other_support.username)[0][:3] == ("disable_user", admin.username, "ok")


def test_the_forms_post_each_action_with_a_reason_and_csrf(
    user: User, support_console: Client
) -> None:
    page = support_console.get(page_of(user)).content.decode()
    forms = re.findall(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', page, re.DOTALL)
    actions = {action: body for action, body in forms if action.startswith(page_of(user))}
    assert set(actions) == {
        f"{page_of(user)}/disable",
        f"{page_of(user)}/sign-out-everywhere",
    }  # an enabled user: no enable form
    for body in actions.values():
        assert 'name="csrfmiddlewaretoken"' in body
        assert re.search(r'<textarea id="[^"]+" name="reason" maxlength="500" required', body)
    assert 'class="button button-danger">Disable' in actions[f"{page_of(user)}/disable"]
    act(support_console, user, "disable")
    page = support_console.get(page_of(user)).content.decode()
    assert f'action="{page_of(user)}/enable"' in page
    assert f'action="{page_of(user)}/disable"' not in page


def test_actions_without_a_csrf_token_are_refused(support: User, user: User) -> None:
    browser = console_for(support, enforce_csrf=True)
    for action in ("disable", "enable", "sign-out-everywhere"):
        assert act(browser, user, action).status_code == 403
    assert cognito_user(user)["Enabled"] is True
    assert revocations.account_status(user.user_id) is None


def test_actions_are_post_only(user: User, support_console: Client) -> None:
    for action in ("disable", "enable", "sign-out-everywhere"):
        for method in ("get", "put", "delete"):
            response = getattr(support_console, method)(f"{page_of(user)}/{action}")
            assert response.status_code == 405, (action, method)
    for method in ("post", "put", "delete"):
        assert getattr(support_console, method)(USERS).status_code == 405
        assert getattr(support_console, method)(page_of(user)).status_code == 405
    assert cognito_user(user)["Enabled"] is True


def test_anonymous_visitors_are_sent_to_sign_in(user: User) -> None:
    anonymous = Client()
    for url in (USERS, page_of(user)):
        response = anonymous.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(f"{SIGN_IN}?next=")
    for action in ("disable", "enable", "sign-out-everywhere"):
        response = act(anonymous, user, action)
        assert response.status_code == 302
        assert response["Location"] == SIGN_IN
    assert cognito_user(user)["Enabled"] is True


def test_a_plain_user_signed_in_to_nothing_cannot_act(user: User, other_user: User) -> None:
    """An app user's credentials do not open the console at all."""
    browser = Client()
    response = browser.post(SIGN_IN, {"username": user.username, "password": PASSWORD})
    assert response.status_code == 401
    assert act(browser, other_user, "disable").status_code == 302
    assert cognito_user(other_user)["Enabled"] is True


def test_actions_on_an_unknown_user_are_404(support_console: Client) -> None:
    for action in ("disable", "enable", "sign-out-everywhere"):
        response = act(support_console, f"nobody-{uuid.uuid4().hex}", action)
        assert response.status_code == 404
        assert "No such user" in text_of(response)


def test_a_cognito_failure_midway_is_reported_and_audited(
    user: User, support: User, support_console: Client
) -> None:
    refused = ClientError({"Error": {"Code": "InternalErrorException"}}, "AdminUserGlobalSignOut")
    with mock.patch.object(
        client("cognito-idp"), "admin_user_global_sign_out", side_effect=refused
    ):
        shown = flashes(support_console, act(support_console, user, "sign-out-everywhere"))
        assert shown.startswith(
            f"error: Signing out {user.username} failed: Cognito refused AdminUserGlobalSignOut: "
            "InternalErrorException."
        )
        assert "doing it again completes it" in shown
        shown = flashes(support_console, act(support_console, user, "disable"))
        assert shown.startswith(f"error: Disabling {user.username} failed: ")
    assert revocations.account_status(user.user_id) is None
    assert [entry[:3] for entry in audit_about(user.username)] == [
        ("disable_user", support.username, "failed"),
        ("global_sign_out", support.username, "failed"),
    ]
    # Running it again completes the disable that stopped halfway.
    shown = flashes(support_console, act(support_console, user, "disable"))
    assert shown.startswith(f"success: Disabled {user.username}: already disabled in Cognito")


def test_throttled_cognito_on_an_action_is_a_clear_message(
    user: User, support_console: Client
) -> None:
    busy = ClientError({"Error": {"Code": "TooManyRequestsException"}}, "AdminDisableUser")
    with mock.patch.object(client("cognito-idp"), "admin_disable_user", side_effect=busy):
        shown = flashes(support_console, act(support_console, user, "disable"))
    assert "AWS is throttling requests (TooManyRequestsException): try again in a minute." in shown
    assert cognito_user(user)["Enabled"] is True


# --- what the Lambda may do ------------------------------------------------------------------


def test_the_lambda_policy_allows_the_users_pages_and_actions(
    user: User,
    support_console: Client,
    recorded: list[Call],  # noqa: F811 (the fixture imported above)
) -> None:
    for params in ({}, {"q": user.username}, {"q": f"{user.username}@"}, {"q": user.user_id}):
        assert support_console.get(USERS, params).status_code == 200
    assert support_console.get(page_of(user)).status_code == 200
    for action in ("sign-out-everywhere", "disable", "enable"):
        assert act(support_console, user, action).status_code == 302
    denied = denied_requests(
        recorded, table=settings.DYNAMODB_TABLE, user_pool_id=settings.COGNITO_USER_POOL_ID
    )
    assert not denied, denied
    assert {call.operation for call in recorded} >= {
        "ListUsers",
        "AdminGetUser",
        "AdminListGroupsForUser",
        "AdminDisableUser",
        "AdminEnableUser",
        "AdminUserGlobalSignOut",
        "Query",
        "TransactWriteItems",
    }
    assert "Scan" not in {call.operation for call in recorded}


# --- the service functions the pages use ------------------------------------------------------


def test_the_console_acts_on_exactly_the_username_shown(
    aws_stack: dict[str, str], user: User, support_console: Client, tag: str
) -> None:
    """A username may be another user's email: the console's action goes to
    the user whose page it is, never to the owner of that email."""
    lookalike = f"{user.username}@example.com"  # ``user``'s email, as a username
    add_user(aws_stack, lookalike, f"{tag}@example.org")
    assert users.find_user(lookalike).username == user.username  # the CLI's guess: email first
    assert users.find_user(lookalike, username_only=True).username == lookalike
    shown = flashes(support_console, act(support_console, lookalike, "disable"))
    assert shown.startswith(f"success: Disabled {lookalike}: ")
    assert cognito_user(user)["Enabled"] is True
    assert users.find_user(lookalike, username_only=True).disabled


@pytest.mark.parametrize("limit", [0, users.MAX_PAGE_SIZE + 1])
def test_search_pages_hold_what_listusers_allows(limit: int) -> None:
    with pytest.raises(users.ValidationFailed, match="Between 1 and 60"):
        users.search_users("ana", limit=limit)
