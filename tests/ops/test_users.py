"""Disabling and re-enabling users (ops_admin.users, ops_admin.revocations,
``manage.py disable_user`` / ``enable_user``) against the session's moto
server, through the real path: tokens from moto's Cognito, the API's
authentication class, the revocation list in the session's table.

The revocation list is process-wide and reread once per
``REVOCATION_CACHE_SECONDS``: the ``clock`` fixture moves that clock by
hand, so no test sleeps through a cache window. The list item is shared by
the whole session; each test's users are its own.
"""

from __future__ import annotations

import io
import math
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from unittest import mock

import jwt
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test.utils import override_settings

from lifestyle.aws import client
from lifestyle.errors import Conflict, NotFound, ValidationFailed
from lifestyle.provisioning import ensure_user, sign_in
from ops_admin import revocations, users
from ops_admin.revocations import RevocationList
from tests.conftest import PASSWORD, DynamoCalls, User, assert_error
from tests.lifestyle.test_auth import sign
from tests.test_deploy_config import (  # the IAM coverage check's recorder
    Call,
    denied_requests,
    recorded,  # noqa: F401 (a fixture)
)

GOALS = "/api/v1/goals"
REASON = "Account takeover reported by the user"
CACHE = settings.REVOCATION_CACHE_SECONDS


@pytest.fixture(autouse=True)
def clock() -> Iterator[SimpleNamespace]:
    """``ops_admin.revocations``' clocks: ``monotonic`` (the cache window)
    moved by hand, and the wall clock that draws revocation lines, real
    unless a test shifts it. The process's copy of the list starts unread."""
    now = SimpleNamespace(monotonic=1000.0, wall_offset=0.0)
    fake = SimpleNamespace(
        monotonic=lambda: now.monotonic, time=lambda: time.time() + now.wall_offset
    )
    revocations.cache.clear()
    with mock.patch.object(revocations, "time", fake):
        yield now
    revocations.cache.clear()


def later(clock: SimpleNamespace) -> None:
    """One cache window passes: every process has reread the list."""
    clock.monotonic += CACHE


def next_second() -> None:
    """Wait (under a second) for the wall clock's next second. Cognito
    stamps ``auth_time`` in whole seconds and the second of a revocation's
    line is refused by design (ops_admin/revocations.py), so a sign-in meant
    to come after the line must come in a later second; Cognito's clock
    stamps it, and no clock of ours can move that one."""
    time.sleep(math.ceil(time.time()) - time.time() + 0.01)


def run(command: str, *args: str, **streams: io.StringIO) -> str:
    out = streams.get("stdout", io.StringIO())
    call_command(command, *args, stdout=out, stderr=streams.get("stderr", io.StringIO()))
    return out.getvalue()


def disable(user: User, *extra: str, **streams: io.StringIO) -> str:
    args = (user.username, "--reason", REASON, "--actor", "alice", *extra)
    return run("disable_user", *args, **streams)


def enable(user: User, *extra: str) -> str:
    return run("enable_user", user.username, "--reason", "Owner verified", "--actor", "bob", *extra)


def assert_ok(response: Any) -> None:
    assert response.status_code == 200, response.content


def assert_revoked(response: Any) -> None:
    error = assert_error(response, 401, "token_revoked")
    assert error["message"] == "This sign-in was revoked; sign in again."
    assert response["WWW-Authenticate"].startswith("Bearer")


def cognito_user(user: User) -> dict[str, Any]:
    return dict(
        client("cognito-idp").admin_get_user(
            UserPoolId=settings.COGNITO_USER_POOL_ID, Username=user.username
        )
    )


def sign_in_error(stack: dict[str, str], user: User) -> str:
    with pytest.raises(ClientError) as refused:
        sign_in(stack["app_client_id"], user.username, PASSWORD)
    return str(refused.value.response["Error"]["Code"])


# --- the whole story, through the commands and the API ------------------------------------


def test_disabling_refuses_held_tokens_and_enabling_admits_new_sign_ins_only(
    aws_stack: dict[str, str], user: User, other_user: User, clock: SimpleNamespace
) -> None:
    assert_ok(user.client().get(GOALS))
    assert_ok(user.client(user.id_token).get(GOALS))

    out = disable(user, "--yes")
    assert out.startswith(f"Disabled {user.username} (sub {user.user_id}):\n")
    assert "signed out everywhere" in out
    assert cognito_user(user)["Enabled"] is False

    # This process read the list just before: it may serve that copy for
    # one cache window, as every other container may (the documented delay).
    assert_ok(user.client().get(GOALS))
    later(clock)
    for token in (user.access_token, user.id_token):  # still unexpired, and refused
        assert_revoked(user.client(token).get(GOALS))
    assert sign_in_error(aws_stack, user) == "NotAuthorizedException"
    assert_ok(other_user.client().get(GOALS))

    out = enable(user, "--yes")
    assert f"Enabled {user.username}" in out
    assert cognito_user(user)["Enabled"] is True
    later(clock)
    assert_revoked(user.client().get(GOALS))  # issued before the revocation

    next_second()
    fresh = sign_in(aws_stack["app_client_id"], user.username, PASSWORD)
    assert_ok(user.client(fresh["AccessToken"]).get(GOALS))
    assert_ok(user.client(fresh["IdToken"]).get(GOALS))
    assert_revoked(user.client(user.id_token).get(GOALS))
    assert_ok(other_user.client().get(GOALS))


def test_the_disable_is_recorded_with_who_and_why(user: User) -> None:
    result = users.disable_user(user.user_id, actor=" alice ", reason=f"  {REASON} ")
    assert (result.action, result.changed, result.dry_run) == ("disable", True, False)
    status = revocations.account_status(user.user_id)
    assert status is not None
    assert (status.disabled, status.disabled_by, status.disabled_reason) == (True, "alice", REASON)
    assert (status.username, status.user_id, status.enabled_by) == (
        user.username,
        user.user_id,
        None,
    )
    assert status.not_before == result.not_before
    assert abs(int(status.not_before) - time.time()) < 5
    assert revocations.read_list()[user.user_id] == result.not_before

    result = users.enable_user(user.username, actor="bob", reason="Owner verified")
    assert (result.action, result.changed) == ("enable", True)
    status = revocations.account_status(user.user_id)
    assert status is not None
    assert (status.disabled, status.disabled_by, status.enabled_by) == (False, "alice", "bob")
    assert status.enabled_reason == "Owner verified"
    assert status.enabled_at is not None
    assert status.disabled_at is not None
    assert status.enabled_at >= status.disabled_at
    assert revocations.read_list()[user.user_id] == result.not_before


# --- what the check costs ---------------------------------------------------------------------


def test_the_check_adds_no_dynamodb_request_to_a_request(
    user: User, clock: SimpleNamespace, aws_calls: Counter[str], dynamo_calls: DynamoCalls
) -> None:
    api = user.client()
    aws_calls.clear()
    goal = api.post(GOALS, {"title": "Walk", "kind": "count", "target": "5"}, format="json")
    assert goal.status_code == 201, goal.content
    assert aws_calls["revocations.GetItem"] == 1  # this process's first read of the list
    url = f"{GOALS}/{goal.json()['id']}"

    dynamo_calls.reset()
    for _ in range(5):
        assert_ok(api.get(url))
    assert dynamo_calls() == {"GetItem": 5}
    assert aws_calls["revocations.GetItem"] == 0  # within the window: the copy in memory

    later(clock)
    dynamo_calls.reset()
    assert_ok(api.get(f"{url}/progress"))
    assert_ok(api.get(f"{url}/progress"))
    assert dynamo_calls() == {"GetItem": 2, "BatchGetItem": 2}  # two per progress, as before
    assert aws_calls["revocations.GetItem"] == 1  # one reread, shared by both


@override_settings(REVOCATION_CACHE_SECONDS=0)
def test_without_a_cache_window_every_request_rereads_the_list(
    user: User, aws_calls: Counter[str], dynamo_calls: DynamoCalls
) -> None:
    for _ in range(3):
        assert_ok(user.client().get(GOALS))
    assert aws_calls["revocations.GetItem"] == 3
    assert dynamo_calls() == {"Query": 3}


def test_forged_tokens_cost_no_read_of_the_list(user: User, aws_calls: Counter[str]) -> None:
    claims = jwt.decode(user.access_token, options={"verify_signature": False})
    secret = "a-secret-that-is-not-the-pool-key-at-all"
    forged = jwt.encode(claims, secret, algorithm="HS256", headers={"kid": "dummy"})
    aws_calls.clear()
    assert_error(user.client(forged).get(GOALS), 401, "authentication_failed")
    assert not aws_calls


# --- when the list cannot be read -------------------------------------------------------------

FAILURES = [
    EndpointConnectionError(endpoint_url="http://dynamodb"),
    ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
        "GetItem",
    ),
]


@pytest.mark.parametrize("failure", FAILURES, ids=["unreachable", "throttled"])
def test_an_unreadable_list_is_served_from_the_last_copy(
    user: User, other_user: User, clock: SimpleNamespace, failure: Exception
) -> None:
    users.disable_user(other_user.username, actor="alice", reason=REASON)
    assert_ok(user.client().get(GOALS))  # reads the list
    later(clock)
    with mock.patch.object(RevocationList, "get", side_effect=failure) as reads:
        assert_ok(user.client().get(GOALS))
        assert_revoked(other_user.client().get(GOALS))
        assert reads.call_count == 1  # one attempt per window, not one per request
        later(clock)
        assert_ok(user.client().get(GOALS))
        assert reads.call_count == 2
    later(clock)
    assert_revoked(other_user.client().get(GOALS))  # read again, for real


@pytest.mark.parametrize("failure", FAILURES, ids=["unreachable", "throttled"])
def test_an_unreadable_list_never_read_is_a_503(user: User, failure: Exception) -> None:
    with mock.patch.object(RevocationList, "get", side_effect=failure):
        response = user.client().get(GOALS)
        assert_error(response, 503, "service_unavailable")
        assert response["Retry-After"] == "1"
    assert_ok(user.client().get(GOALS))  # DynamoDB is back: so is the API


# --- which token time counts ------------------------------------------------------------------


def test_the_sign_in_time_decides_not_the_issue_time(user: User, clock: SimpleNamespace) -> None:
    """``auth_time`` is when the session began; a token refreshed from that
    session later has a later ``iat`` and is still refused."""
    now = int(time.time())
    clock.wall_offset = -100  # the line: 100 s ago
    revocations.record(user.user_id, user.username, disabled=True, actor="alice", reason=REASON)
    line = revocations.read_list()[user.user_id]
    assert line in (now - 100, now - 99)
    claims = jwt.decode(user.access_token, options={"verify_signature": False})

    def token(**times: int) -> str:
        changed = {**claims, **times}
        return sign({name: value for name, value in changed.items() if value != -1})

    refreshed = token(auth_time=now - 200, iat=now - 10)
    assert_revoked(user.client(refreshed).get(GOALS))
    assert_revoked(user.client(token(auth_time=line, iat=line)).get(GOALS))  # the line's second
    assert_ok(user.client(token(auth_time=line + 2, iat=now)).get(GOALS))
    assert_ok(user.client(token(auth_time=-1, iat=line + 2)).get(GOALS))  # no auth_time: iat
    assert_revoked(user.client(token(auth_time=-1, iat=line - 5)).get(GOALS))
    assert_revoked(user.client(token(auth_time=-1, iat=-1)).get(GOALS))  # no time at all


def test_sign_in_time_prefers_auth_time() -> None:
    assert revocations.sign_in_time({"auth_time": 10, "iat": 20}) == 10
    assert revocations.sign_in_time({"iat": 20}) == 20
    assert revocations.sign_in_time({"auth_time": 10.7}) == 10
    assert revocations.sign_in_time({"auth_time": True, "iat": "20"}) is None
    assert revocations.sign_in_time({}) is None


# --- the list item: pruning, bounds, concurrent writers ---------------------------------------


def test_entries_past_the_window_are_pruned_on_the_next_write(
    user: User, other_user: User, clock: SimpleNamespace
) -> None:
    clock.wall_offset = -(settings.REVOCATION_WINDOW_SECONDS + 60)
    revocations.record(user.user_id, user.username, disabled=True, actor="a", reason=REASON)
    assert user.user_id in revocations.read_list()
    clock.wall_offset = 0
    revocations.record(
        other_user.user_id, other_user.username, disabled=True, actor="a", reason="x"
    )
    listed = revocations.read_list()
    assert user.user_id not in listed
    assert other_user.user_id in listed
    oldest = time.time() - settings.REVOCATION_WINDOW_SECONDS
    assert all(at >= oldest - 5 for at in listed.values())


def test_a_full_list_refuses_a_new_entry_after_cognito_disabled_the_user(
    aws_stack: dict[str, str], user: User, other_user: User
) -> None:
    users.disable_user(other_user.username, actor="alice", reason=REASON)
    held = len(revocations.read_list())
    with override_settings(REVOCATION_MAX_ENTRIES=held):
        users.enable_user(other_user.username, actor="bob", reason="ok")  # already listed: fits
        full = r"revocation list holds \d+ revocations .*, its limit"
        with pytest.raises(CommandError, match=full):
            disable(user, "--yes")
    assert user.user_id not in revocations.read_list()
    # Cognito's part is done: no new sign-in, no refresh.
    assert sign_in_error(aws_stack, user) == "NotAuthorizedException"
    out = disable(user, "--yes")  # with room again, running it again completes it
    assert "already disabled in Cognito" in out
    assert user.user_id in revocations.read_list()


def test_concurrent_writers_are_retried_not_lost(user: User, other_user: User) -> None:
    real_get = revocations._get_list
    raced = False

    def racing(*, consistent: bool) -> RevocationList | None:
        nonlocal raced
        stale = real_get(consistent=consistent)
        if not raced:  # another member of staff writes between our read and our write
            raced = True
            revocations.record(other_user.user_id, "x", disabled=True, actor="b", reason="r")
        return stale

    with mock.patch.object(revocations, "_get_list", side_effect=racing) as reads:
        revocations.record(user.user_id, user.username, disabled=True, actor="a", reason="r")
    assert reads.call_count == 3  # ours, theirs, ours again after the conflict
    listed = revocations.read_list()
    assert {user.user_id, other_user.user_id} <= set(listed)


def test_a_writer_that_keeps_losing_gives_up_with_a_conflict(user: User) -> None:
    with (
        mock.patch.object(
            revocations.Transaction, "commit", side_effect=revocations.TransactionCancelled({})
        ),
        pytest.raises(revocations.RevocationConflict),
    ):
        revocations.record(user.user_id, user.username, disabled=True, actor="a", reason="r")


# --- finding users ----------------------------------------------------------------------------


def test_find_user_by_username_email_or_sub(user: User) -> None:
    for identifier in (
        user.username,
        f"{user.username}@example.com",
        user.user_id,
        f" {user.user_id} ",
    ):
        found = users.find_user(identifier)
        assert (found.username, found.user_id) == (user.username, user.user_id)
        assert found.email == f"{user.username}@example.com"
        assert (found.enabled, found.status, found.access, found.disabled) == (
            True,
            "CONFIRMED",
            None,
            False,
        )
        assert found.created_at is not None


def test_find_user_falls_back_to_usernames_that_look_like_emails_or_subs(
    aws_stack: dict[str, str],
) -> None:
    for username in (f"{uuid.uuid4().hex[:8]}@example.org", str(uuid.uuid4())):
        ensure_user(
            aws_stack["user_pool_id"],
            username=username,
            password=PASSWORD,
            email=f"other-{uuid.uuid4().hex[:8]}@example.com",
        )
        assert users.find_user(username).username == username


@pytest.mark.parametrize(
    "identifier",
    ["nobody-" + uuid.uuid4().hex, f"nobody-{uuid.uuid4().hex}@example.com", str(uuid.uuid4())],
    ids=["username", "email", "sub"],
)
def test_find_user_of_nobody_is_not_found(identifier: str) -> None:
    with pytest.raises(NotFound):
        users.find_user(identifier)


def test_an_email_shared_by_two_users_must_be_disambiguated(aws_stack: dict[str, str]) -> None:
    shared = f"shared-{uuid.uuid4().hex[:8]}@example.com"
    for _ in range(2):
        username = f"twin-{uuid.uuid4().hex[:8]}"
        ensure_user(aws_stack["user_pool_id"], username=username, password=PASSWORD, email=shared)
    with pytest.raises(Conflict, match="Several users have this email"):
        users.find_user(shared)
    assert users.find_user(username).email == shared


@pytest.mark.parametrize("identifier", ["", "   ", 'a"b', "a\\b", "a\nb", "x" * 257], ids=repr)
def test_find_user_refuses_what_is_no_identifier(identifier: str) -> None:
    with pytest.raises(ValidationFailed):
        users.find_user(identifier)


def test_without_a_user_pool_nothing_is_looked_up() -> None:
    with override_settings(COGNITO_USER_POOL_ID=""), pytest.raises(users.UserAdminError):
        users.find_user("anyone")


# --- the commands -----------------------------------------------------------------------------


def test_disabling_twice_says_so_and_succeeds(user: User) -> None:
    disable(user, "--yes")
    out = disable(user, "--yes")
    assert out.startswith(f"{user.username} (sub {user.user_id}) is already disabled (by alice at ")
    assert out.rstrip().endswith(": nothing to do.")
    assert users.disable_user(user.username, actor="x", reason="y").changed is False


def test_enabling_a_user_who_is_not_disabled_changes_nothing(user: User) -> None:
    out = enable(user, "--yes")
    assert out == f"{user.username} (sub {user.user_id}) is not disabled: nothing to do.\n"
    assert revocations.account_status(user.user_id) is None
    assert user.user_id not in revocations.read_list()


def test_a_disable_made_in_cognito_alone_is_completed(user: User, clock: SimpleNamespace) -> None:
    """Someone disabled the user in the AWS console, as the runbook says:
    their tokens still worked. The command finishes the job."""
    client("cognito-idp").admin_disable_user(
        UserPoolId=settings.COGNITO_USER_POOL_ID, Username=user.username
    )
    assert_ok(user.client().get(GOALS))
    out = disable(user, "--yes")
    assert "already disabled in Cognito" in out
    later(clock)
    assert_revoked(user.client().get(GOALS))


def test_an_enable_made_in_cognito_alone_is_completed(user: User, clock: SimpleNamespace) -> None:
    disable(user, "--yes")
    client("cognito-idp").admin_enable_user(
        UserPoolId=settings.COGNITO_USER_POOL_ID, Username=user.username
    )
    out = enable(user, "--yes")
    assert "enabled in Cognito" not in out
    assert "new sign-ins work" in out
    status = revocations.account_status(user.user_id)
    assert status is not None
    assert status.disabled is False


def test_dry_run_shows_the_plan_and_changes_nothing(user: User) -> None:
    out = disable(user, "--dry-run")
    assert out.startswith(f"Would disable {user.username} (sub {user.user_id}):\n")
    assert "  - disabled in Cognito" in out
    assert out.rstrip().endswith("Dry run: nothing was changed.")
    assert cognito_user(user)["Enabled"] is True
    assert revocations.account_status(user.user_id) is None
    assert user.user_id not in revocations.read_list()


def test_without_yes_and_without_a_terminal_nothing_is_done(user: User) -> None:
    with (
        mock.patch("sys.stdin", io.StringIO("y\n")),
        pytest.raises(CommandError, match="--yes"),
    ):
        disable(user)
    assert cognito_user(user)["Enabled"] is True


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "enabled"), [("y\n", False), ("n\n", True), ("\n", True)])
def test_at_a_terminal_the_operator_confirms(user: User, answer: str, enabled: bool) -> None:
    out, err = io.StringIO(), io.StringIO()
    with mock.patch("sys.stdin", Terminal(answer)):
        if enabled:
            with pytest.raises(CommandError, match="Cancelled"):
                disable(user, stdout=out, stderr=err)
        else:
            disable(user, stdout=out, stderr=err)
    assert cognito_user(user)["Enabled"] is enabled
    assert out.getvalue().startswith(f"Would disable {user.username} (sub {user.user_id}):\n")
    assert err.getvalue() == f"Disable {user.username} (sub {user.user_id})? [y/N] "


def test_the_actor_defaults_to_the_os_user(user: User) -> None:
    with mock.patch("getpass.getuser", return_value="oncall-ana"):
        run("disable_user", user.username, "--reason", REASON, "--yes")
    status = revocations.account_status(user.user_id)
    assert status is not None
    assert status.disabled_by == "oncall-ana"


@pytest.mark.parametrize(
    "environment",
    [
        {"patch": "getpass.getuser", "side_effect": KeyError("uid not found")},
        {"patch": "os.environ", "values": {"AWS_LAMBDA_FUNCTION_NAME": "ai-lifestyle-app-prod"}},
    ],
    ids=["no-login-name", "inside-lambda"],
)
def test_without_an_os_user_the_actor_must_be_given(user: User, environment: dict) -> None:
    if "values" in environment:
        context: Any = mock.patch.dict(environment["patch"], environment["values"])
    else:
        context = mock.patch(environment["patch"], side_effect=environment["side_effect"])
    with context, pytest.raises(CommandError, match="--actor"):
        run("disable_user", user.username, "--reason", REASON, "--yes")
    assert cognito_user(user)["Enabled"] is True


@pytest.mark.parametrize("command", ["disable_user", "enable_user"])
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--yes"], "--reason"),
        (["--reason", "  ", "--yes"], "reason: Say why"),
        (["--reason", "x" * 501, "--yes"], "reason: At most 500"),
        (["--reason", "why", "--actor", " ", "--yes"], "No OS user name|actor: Say who"),
        (["--reason", "why", "--actor", "a\x00b", "--yes"], "actor: At most"),
    ],
    ids=["no-reason", "blank-reason", "long-reason", "blank-actor", "control-actor"],
)
def test_bad_arguments_are_refused_before_anything_changes(
    user: User, command: str, args: list[str], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        run(command, user.username, *args)
    assert cognito_user(user)["Enabled"] is True
    assert revocations.account_status(user.user_id) is None


@pytest.mark.parametrize("command", ["disable_user", "enable_user"])
@pytest.mark.parametrize(
    ("identifier", "message"),
    [
        ("nobody-" + uuid.uuid4().hex, "No user has this username, email or sub"),
        (str(uuid.uuid4()), "No user has this username, email or sub"),
        ('bad"name', "no quotes"),
        ("", "Name the user"),
    ],
    ids=["unknown", "unknown-sub", "quote", "empty"],
)
def test_unknown_or_malformed_users_are_clear_errors(
    command: str, identifier: str, message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        run(command, identifier, "--reason", REASON, "--actor", "alice", "--yes")


def test_a_missing_user_argument_is_refused() -> None:
    with pytest.raises(CommandError, match="user"):
        run("disable_user", "--reason", REASON, "--yes")


# --- what the Lambda may do -------------------------------------------------------------------


def test_the_lambda_policy_allows_the_user_commands(
    user: User,
    recorded: list[Call],  # noqa: F811 (the fixture imported above)
) -> None:
    """Every request of disable_user and enable_user, as run through
    ``zappa manage`` (--yes), and of the API's check, is granted."""
    disable(user, "--yes")
    enable(user, "--yes")
    assert_revoked(user.client().get(GOALS))
    denied = denied_requests(
        recorded, table=settings.DYNAMODB_TABLE, user_pool_id=settings.COGNITO_USER_POOL_ID
    )
    assert not denied, denied
    assert {call.operation for call in recorded} >= {
        "ListUsers",
        "AdminDisableUser",
        "AdminUserGlobalSignOut",
        "AdminEnableUser",
        "GetItem",
        "TransactWriteItems",
    }


@pytest.mark.parametrize("code", ["TooManyRequestsException", "InternalErrorException"])
def test_cognito_busy_is_left_to_the_503_path_and_a_refusal_is_an_admin_error(
    user: User, code: str
) -> None:
    error = ClientError({"Error": {"Code": code, "Message": "no"}}, "AdminDisableUser")
    with mock.patch.object(client("cognito-idp"), "admin_disable_user", side_effect=error):
        if code in users.COGNITO_BUSY:
            # Raised as the AWS error: the API answers 503 with Retry-After for it.
            with pytest.raises(ClientError):
                users.disable_user(user.username, actor="x", reason="y")
        else:
            with pytest.raises(users.UserAdminError, match=code):
                users.disable_user(user.username, actor="x", reason="y")
        with pytest.raises(CommandError, match=code):
            disable(user, "--yes")
    assert users.find_user(user.username).enabled is True


def test_each_change_is_in_the_audit_log_with_who_why_and_how_it_ended(user: User) -> None:
    from lifestyle.timeutil import utcnow
    from ops_admin import audit

    disable(user, "--yes")
    disable(user, "--yes")  # already disabled: nothing done, nothing recorded
    enable(user, "--yes", "--dry-run")  # a dry run records nothing either
    enable(user, "--yes")
    error = ClientError({"Error": {"Code": "InternalErrorException"}}, "AdminDisableUser")
    cognito = client("cognito-idp")
    with (
        mock.patch.object(cognito, "admin_disable_user", side_effect=error),
        pytest.raises(CommandError),
    ):
        disable(user, "--yes")

    day = utcnow().date()
    entries = audit.entries(day, target=user.username).entries
    assert [(e.action, e.actor, e.result, e.detail.as_dict()) for e in entries] == [
        ("disable_user", "alice", "failed", {"reason": REASON, "error": "UserAdminError"}),
        ("enable_user", "bob", "ok", {"reason": "Owner verified"}),
        ("disable_user", "alice", "ok", {"reason": REASON}),
    ]
