"""Finding, disabling and re-enabling users: the runbook's "Disable
compromised user", done so that it takes effect in the API at once.

``manage.py disable_user`` / ``enable_user`` and the staff console call
these functions. Disabling:

1. disables the user in Cognito (AdminDisableUser): no new sign-in, no
   token refresh;
2. signs them out everywhere (AdminUserGlobalSignOut): their refresh
   tokens are revoked;
3. records the revocation (:mod:`ops_admin.revocations`): the API refuses
   the ID and access tokens they already hold, in every container within
   ``REVOCATION_CACHE_SECONDS``, with who did it and why.

Cognito comes first, so nothing can mint a token after the line is drawn.
Each step is idempotent, and a user counts as already disabled only when
Cognito and our record both say so: running the command again completes a
disable that stopped halfway. Enabling reverses step 1 and moves the line to
the moment of the enable, so tokens from before the disable stay refused
and new sign-ins work.

The console also finds users (:func:`search_users`: prefix searches on
username or email, an exact sub, a page at a time), shows one
(:func:`get_user`, :func:`user_data`) and signs a user out everywhere
without disabling them (:func:`sign_out_everywhere`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from activities.models import Activity
from activities.selectors import activity_list
from goals.models import Goal
from lifestyle.aws import client
from lifestyle.dynamo import user_pk
from lifestyle.errors import ApplicationError, Conflict, NotFound, ValidationFailed
from ops_admin import audit, revocations
from ops_admin.revocations import AccountStatus
from ops_admin.staff_auth import STAFF_GROUPS

MAX_IDENTIFIER = 256
MAX_ACTOR = 128
MAX_REASON = 500
_SUB = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


class UserAdminError(ApplicationError):
    """Cognito refused, or is not configured: the message says which call
    and Cognito's own error code."""

    status = 502
    code = "user_admin_error"
    default_message = "The user pool could not be changed."


@dataclass(frozen=True)
class UserAccount:
    """A Cognito user as staff see them, with the access staff last set."""

    username: str
    user_id: str  # the Cognito ``sub``, the key of all their data
    email: str | None
    enabled: bool  # Cognito lets them sign in
    status: str  # Cognito's UserStatus: CONFIRMED, FORCE_CHANGE_PASSWORD...
    created_at: datetime | None
    access: AccountStatus | None = None
    modified_at: datetime | None = None  # Cognito's UserLastModifiedDate
    email_verified: bool | None = None  # None: Cognito does not say

    @property
    def disabled(self) -> bool:
        """Fully disabled: Cognito refuses sign-ins and the API their tokens."""
        return not self.enabled and self.access is not None and self.access.disabled

    def describe(self) -> str:
        """A line naming the user without personal data (no email)."""
        return f"{self.username} (sub {self.user_id})"


@dataclass
class UserActionResult:
    """What :func:`disable_user` or :func:`enable_user` did (or, with
    ``dry_run``, would do): ``steps`` in order, one line each."""

    action: str  # "disable", "enable" or "sign_out"
    user: UserAccount
    changed: bool
    dry_run: bool = False
    steps: list[str] = field(default_factory=list)
    not_before: int | None = None  # the line drawn, epoch seconds

    @property
    def not_before_text(self) -> str | None:
        return None if self.not_before is None else _utc_text(self.not_before)


def _utc_text(epoch_seconds: int) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- Cognito ------------------------------------------------------------------------


def _pool_id() -> str:
    if not settings.COGNITO_USER_POOL_ID:
        raise UserAdminError("COGNITO_USER_POOL_ID is not set: which user pool is this?")
    return str(settings.COGNITO_USER_POOL_ID)


# Cognito's "slow down" answers: worth retrying later, not a refusal.
COGNITO_BUSY = frozenset(
    {"TooManyRequestsException", "ThrottlingException", "LimitExceededException"}
)


@contextmanager
def _cognito(action: str) -> Iterator[None]:
    from botocore.exceptions import ClientError

    try:
        yield
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "Error")
        if code == "UserNotFoundException":
            raise NotFound("No such user in the user pool.") from None
        if code in COGNITO_BUSY:
            raise  # still throttled after botocore's retries: the API's 503 + Retry-After
        raise UserAdminError(f"Cognito refused {action}: {code}.") from error


def _attributes(raw: dict[str, Any]) -> dict[str, str]:
    listed = raw.get("Attributes") or raw.get("UserAttributes") or []
    return {attribute["Name"]: attribute["Value"] for attribute in listed}


def _account(raw: dict[str, Any], *, with_access: bool = True) -> UserAccount:
    """The user Cognito describes in ``raw`` (ListUsers' or AdminGetUser's
    shape), with their access record (one GetItem) unless ``with_access``
    is False (a page of search results shows Cognito's view only)."""
    attributes = _attributes(raw)
    user_id = attributes["sub"]
    verified = attributes.get("email_verified")
    return UserAccount(
        username=raw["Username"],
        user_id=user_id,
        email=attributes.get("email"),
        enabled=bool(raw.get("Enabled", True)),
        status=str(raw.get("UserStatus", "UNKNOWN")),
        created_at=raw.get("UserCreateDate"),
        access=revocations.account_status(user_id) if with_access else None,
        modified_at=raw.get("UserLastModifiedDate"),
        email_verified=None if verified is None else verified.lower() == "true",
    )


def _clean_identifier(identifier: str) -> str:
    value = identifier.strip()
    if not value:
        raise ValidationFailed("Name the user: a username, an email address or a sub.")
    if len(value) > MAX_IDENTIFIER:
        raise ValidationFailed(f"No username, email or sub is over {MAX_IDENTIFIER} characters.")
    # A ListUsers filter quotes its value: refuse what could end the quotes.
    if any(char in value for char in '"\\') or _has_control(value):
        raise ValidationFailed("A username, email or sub has no quotes, backslashes or controls.")
    return value


def _has_control(text: str) -> bool:
    return any(unicodedata.category(char).startswith("C") for char in text)


def _lookups(identifier: str) -> list[str]:
    """The attributes ``identifier`` may be, likeliest first. A username may
    look like an email or a UUID, so the username is always tried last."""
    if _SUB.fullmatch(identifier):
        return ["sub", "username"]
    if "@" in identifier:
        return ["email", "username"]
    return ["username"]


def find_user(identifier: str, *, username_only: bool = False) -> UserAccount:
    """The one user whose username, email or sub is ``identifier``: one
    ListUsers with a filter per attribute tried (usually one), plus a read
    of their access record. :class:`NotFound` if none, :class:`Conflict` if
    an email belongs to several users (name one by username or sub).

    ``username_only``: ``identifier`` is a username and nothing else (the
    console's user page names its user so): one AdminGetUser, so a username
    that looks like somebody else's email or sub still means its own user."""
    if username_only:
        return _get_account(identifier)
    value = _clean_identifier(identifier)
    cognito = client("cognito-idp")
    pool_id = _pool_id()
    for attribute in _lookups(value):
        with _cognito("ListUsers"):
            found = cognito.list_users(
                UserPoolId=pool_id, Filter=f'{attribute} = "{value}"', Limit=2
            )["Users"]
        if len(found) > 1:
            raise Conflict(
                f"Several users have this {attribute}: name one by username or sub "
                "(the console's search lists them)."
            )
        if found:
            return _account(found[0])
    raise NotFound("No user has this username, email or sub.")


# --- One user by username ------------------------------------------------------------

MAX_USERNAME = 128  # Cognito's limit


def clean_username(username: str) -> str:
    """``username`` if it could be a Cognito username (1 to 128 letters,
    marks, symbols, digits or punctuation: Cognito's own pattern), else
    :class:`NotFound` without asking Cognito: no user can have it."""
    if not username or len(username) > MAX_USERNAME:
        raise NotFound("No such user in the user pool.")
    if any(unicodedata.category(char)[0] in "CZ" for char in username):
        raise NotFound("No such user in the user pool.")
    return username


def _get_account(username: str) -> UserAccount:
    """AdminGetUser: exactly this username (Cognito's spelling of it comes
    back, should the pool ignore case), and their access record."""
    username = clean_username(username)
    with _cognito("AdminGetUser"):
        raw = client("cognito-idp").admin_get_user(UserPoolId=_pool_id(), Username=username)
    return _account(raw)


def groups_of(username: str) -> list[str]:
    """The user's Cognito groups by name, sorted (AdminListGroupsForUser,
    60 a page: one request for anyone in fewer groups)."""
    cognito, pool_id = client("cognito-idp"), _pool_id()
    names: list[str] = []
    token: str | None = None
    while True:
        request: dict[str, Any] = {"UserPoolId": pool_id, "Username": username, "Limit": 60}
        if token:
            request["NextToken"] = token
        with _cognito("AdminListGroupsForUser"):
            answer = cognito.admin_list_groups_for_user(**request)
        names.extend(str(group["GroupName"]) for group in answer.get("Groups", []))
        token = answer.get("NextToken")
        if not token:
            return sorted(names)


@dataclass(frozen=True)
class UserDetail:
    """What the console's user page shows of Cognito and our access record."""

    account: UserAccount
    groups: list[str]

    @property
    def is_staff(self) -> bool:
        """In a staff group: a member of ops-support or ops-admin."""
        return bool(STAFF_GROUPS & set(self.groups))


def get_user(username: str) -> UserDetail:
    """The user with exactly this username, their groups and access record:
    AdminGetUser, AdminListGroupsForUser and one GetItem. :class:`NotFound`
    if there is no such user."""
    account = _get_account(username)
    return UserDetail(account=account, groups=groups_of(account.username))


# --- Searching ----------------------------------------------------------------------

PAGE_SIZE = 25
MAX_PAGE_SIZE = 60  # ListUsers' own limit
# Cognito's Filter is at most 256 characters, ``username ^= ""`` included.
MAX_SEARCH = 200
MAX_PAGE_TOKEN = 4096
SEARCH_BY = ("username", "email", "sub")
# What Cognito (InvalidParameterException) and moto (InvalidToken) answer
# to a pagination token they did not give out for this filter.
_BAD_TOKEN = frozenset({"InvalidParameterException", "InvalidToken"})


@dataclass(frozen=True)
class UserPage:
    """One page of users (Cognito's order, which is no particular order).
    ``by`` is the attribute the search matched on (``username`` or
    ``email`` by prefix, ``sub`` exactly; None: everyone), and a next page
    must be asked for with the same ``query``, ``by`` and ``next_token``."""

    users: list[UserAccount]
    query: str
    by: str | None
    next_token: str | None


def _search_problem(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={name: [message]})


def _clean_search(query: str, by: str | None, token: str | None) -> tuple[str, str | None]:
    query = query.strip()
    if len(query) > MAX_SEARCH:
        raise _search_problem(
            "q", f"Search for at most {MAX_SEARCH} characters (this is {len(query)})."
        )
    if any(char in query for char in '"\\') or _has_control(query):
        raise _search_problem(
            "q",
            "Search for text without quotes, backslashes or control characters: "
            "no username, email or sub has them.",
        )
    if by is not None and by not in SEARCH_BY:
        raise _search_problem("by", f"Search by {', '.join(SEARCH_BY)}, or leave it to choose.")
    if not query:
        by = None  # nothing to match: list everyone
    elif by == "sub" and not _SUB.fullmatch(query):
        raise _search_problem(
            "q", "A sub is a whole UUID, like 0b9e2a3c-1f4d-4e5a-9b6c-7d8e9f0a1b2c."
        )
    if token is not None:
        if (
            not token
            or len(token) > MAX_PAGE_TOKEN
            or not token.isascii()
            or not token.isprintable()
        ):
            raise _search_problem("page", "This next-page link is damaged: search again.")
        if query and by is None:
            raise _search_problem("page", "This next-page link is incomplete: search again.")
    return query, by


def _search_order(query: str) -> list[str]:
    """The attributes a search without ``by`` tries, until one finds
    someone: what the text looks like first, then the other."""
    if _SUB.fullmatch(query):
        return ["sub", "username"]
    if "@" in query:
        return ["email", "username"]
    return ["username", "email"]


def _filter(by: str, query: str) -> str:
    if by == "sub":
        return f'sub = "{query.lower()}"'
    return f'{by} ^= "{query}"'


def _list_page(query: str, by: str | None, token: str | None, limit: int) -> UserPage:
    from botocore.exceptions import ClientError

    request: dict[str, Any] = {"UserPoolId": _pool_id(), "Limit": limit}
    if by is not None:
        request["Filter"] = _filter(by, query)
    if token:
        request["PaginationToken"] = token
    with _cognito("ListUsers"):
        try:
            answer = client("cognito-idp").list_users(**request)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if token and code in _BAD_TOKEN:
                raise _search_problem(
                    "page",
                    "This next-page link no longer works (it expired, or the search "
                    "changed): search again.",
                ) from None
            raise
    return UserPage(
        users=[_account(raw, with_access=False) for raw in answer.get("Users", [])],
        query=query,
        by=by,
        next_token=answer.get("PaginationToken") or None,
    )


def search_users(
    query: str = "", *, by: str | None = None, token: str | None = None, limit: int = PAGE_SIZE
) -> UserPage:
    """A page of users whose username or email starts with ``query``, or
    whose sub is ``query``; without a query, a page of everyone.

    ``by`` picks the attribute (``username``, ``email``, ``sub``); without
    it the query's look decides (a UUID: sub, then username; with an ``@``:
    email, then username; else username, then email) and the next attribute
    is tried only when the first finds nobody, so a search costs one
    ListUsers, two when the first is empty. ``token`` (a page's
    ``next_token``) continues a search with the page's ``query`` and ``by``.

    Cognito compares usernames case-sensitively, as typed; bad input is a
    :class:`ValidationFailed` naming the field (``q``, ``by`` or ``page``),
    before any request."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise _search_problem("limit", f"Between 1 and {MAX_PAGE_SIZE} users a page.")
    query, by = _clean_search(query, by, token)
    if not query or by is not None:
        return _list_page(query, by, token, limit)
    for attribute in _search_order(query):
        page = _list_page(query, attribute, None, limit)
        if page.users:
            return page
    return UserPage(users=[], query=query, by=None, next_token=None)


# --- Their data -----------------------------------------------------------------------

RECENT_ACTIVITIES = 10


@dataclass(frozen=True)
class RecentActivity:
    activity: Activity
    goal_title: str | None  # None: the goal is gone
    unit: str


@dataclass(frozen=True)
class UserData:
    """How much the user keeps with us: goals by status and the newest
    activities (what support asks about: "is my data still there?")."""

    goals: int
    goals_by_status: dict[str, int]
    recent: list[RecentActivity]


def user_data(user_id: str, *, recent: int = RECENT_ACTIVITIES) -> UserData:
    """Two Queries in the user's partition: their goals (only the id, title,
    unit and status come back; DynamoDB pages past 1 MB of goals) and their
    newest ``recent`` activities across goals (the ``by_time`` index)."""
    goals = Goal.query(
        user_pk(user_id),
        Goal.sk.startswith("GOAL#"),
        attributes_to_get=["pk", "sk", "type", "goal_id", "title", "unit", "status"],
    )
    titles: dict[str, tuple[str, str]] = {}
    by_status: dict[str, int] = {}
    for goal in goals:
        titles[goal.goal_id] = (goal.title, goal.unit or "")
        by_status[goal.status] = by_status.get(goal.status, 0) + 1
    activities, _ = activity_list(
        user_id=user_id, goal_id=None, start=None, end=None, limit=recent, start_key=None
    )
    rows = []
    for activity in activities:
        title, unit = titles.get(activity.goal_id, (None, ""))
        rows.append(RecentActivity(activity=activity, goal_title=title, unit=unit))
    return UserData(goals=len(titles), goals_by_status=dict(sorted(by_status.items())), recent=rows)


# --- Disable and enable -------------------------------------------------------------


def _clean_note(actor: str, reason: str) -> tuple[str, str]:
    # A browser's textarea sends its line breaks as CRLF: one "\n" each.
    actor, reason = actor.strip(), reason.replace("\r\n", "\n").strip()
    fields: dict[str, list[str]] = {}
    if not actor:
        fields["actor"] = ["Say who is doing this."]
    elif len(actor) > MAX_ACTOR or _has_control(actor):
        fields["actor"] = [f"At most {MAX_ACTOR} printable characters."]
    if not reason:
        fields["reason"] = ["Say why: it is recorded with the change."]
    elif len(reason) > MAX_REASON or _has_control(reason.replace("\n", " ")):
        fields["reason"] = [f"At most {MAX_REASON} printable characters."]
    if fields:
        raise ValidationFailed(fields=fields)
    return actor, reason


def _effect_line(not_before: int) -> str:
    return (
        f"API refuses their tokens from sign-ins up to {_utc_text(not_before)}, in every "
        f"container within {settings.REVOCATION_CACHE_SECONDS:g} s"
    )


def disable_user(
    identifier: str,
    *,
    actor: str,
    reason: str,
    dry_run: bool = False,
    username_only: bool = False,
) -> UserActionResult:
    """Disable the user in Cognito, sign them out everywhere and revoke the
    tokens they hold (see the module's docstring). ``changed`` is False if
    they were already disabled; ``dry_run`` finds the user and says what
    would happen, changing nothing; ``username_only`` as for
    :func:`find_user`."""
    actor, reason = _clean_note(actor, reason)
    user = find_user(identifier, username_only=username_only)
    result = UserActionResult("disable", user, changed=not user.disabled, dry_run=dry_run)
    return _carry_out(_disable, result, actor=actor, reason=reason)


Change = Callable[..., UserActionResult]


def _carry_out(
    change: Change, result: UserActionResult, *, actor: str, reason: str
) -> UserActionResult:
    """Apply ``change`` when there is something to change; a real run (not
    a dry run) is recorded in the audit log, ``ok`` or ``failed``."""
    if not result.changed:
        return result
    if result.dry_run:
        return change(result.user, result, actor=actor, reason=reason)
    with audit.audited(
        actor=actor,
        action=f"{result.action}_user",
        target=result.user.username,
        detail={"reason": reason},
    ):
        change(result.user, result, actor=actor, reason=reason)
    return result


SIGNED_OUT = "signed out everywhere: refresh tokens revoked"


def _global_sign_out(user: UserAccount) -> None:
    """Cognito revokes the user's refresh tokens (AdminUserGlobalSignOut)."""
    with _cognito("AdminUserGlobalSignOut"):
        client("cognito-idp").admin_user_global_sign_out(
            UserPoolId=_pool_id(), Username=user.username
        )


def _disable(
    user: UserAccount, result: UserActionResult, *, actor: str, reason: str
) -> UserActionResult:
    dry_run = result.dry_run
    pool_id, cognito = _pool_id(), client("cognito-idp")
    if user.enabled:
        if not dry_run:
            with _cognito("AdminDisableUser"):
                cognito.admin_disable_user(UserPoolId=pool_id, Username=user.username)
        result.steps.append("disabled in Cognito: sign-ins and token refreshes refused")
    else:
        result.steps.append("already disabled in Cognito")
    if not dry_run:
        _global_sign_out(user)
    result.steps.append(SIGNED_OUT)
    if dry_run:
        result.steps.append(_effect_line(revocations.now_seconds()))
        return result
    status = revocations.record(
        user.user_id, user.username, disabled=True, actor=actor, reason=reason
    )
    result.not_before = int(status.not_before)
    result.steps.append(_effect_line(result.not_before))
    return result


def enable_user(
    identifier: str,
    *,
    actor: str,
    reason: str,
    dry_run: bool = False,
    username_only: bool = False,
) -> UserActionResult:
    """Let the user sign in again. Their tokens from before stay refused
    (the line moves to now); tokens from new sign-ins work. ``changed`` is
    False if they were not disabled."""
    actor, reason = _clean_note(actor, reason)
    user = find_user(identifier, username_only=username_only)
    disabled_here = user.access is not None and user.access.disabled
    result = UserActionResult(
        "enable", user, changed=not user.enabled or disabled_here, dry_run=dry_run
    )
    return _carry_out(_enable, result, actor=actor, reason=reason)


def _enable(
    user: UserAccount, result: UserActionResult, *, actor: str, reason: str
) -> UserActionResult:
    dry_run = result.dry_run
    if not user.enabled:
        if not dry_run:
            with _cognito("AdminEnableUser"):
                client("cognito-idp").admin_enable_user(
                    UserPoolId=_pool_id(), Username=user.username
                )
        result.steps.append("enabled in Cognito: they can sign in again")
    if dry_run:
        result.steps.append(_effect_line(revocations.now_seconds()) + "; new sign-ins work")
        return result
    status = revocations.record(
        user.user_id, user.username, disabled=False, actor=actor, reason=reason
    )
    result.not_before = int(status.not_before)
    result.steps.append(_effect_line(result.not_before) + "; new sign-ins work")
    return result


# --- Sign out everywhere --------------------------------------------------------------


def sign_out_everywhere(
    identifier: str, *, actor: str, reason: str, username_only: bool = False
) -> UserActionResult:
    """End every session the user has, without disabling them: Cognito
    revokes their refresh tokens (AdminUserGlobalSignOut) and the API
    refuses the ID and access tokens they hold (the revocation line moves
    to now, with who and why). They may sign in again at once; a disabled
    user stays disabled. Audited as ``global_sign_out``, ``ok`` or
    ``failed``."""
    actor, reason = _clean_note(actor, reason)
    user = find_user(identifier, username_only=username_only)
    result = UserActionResult("sign_out", user, changed=True)
    with audit.audited(
        actor=actor, action="global_sign_out", target=user.username, detail={"reason": reason}
    ):
        _global_sign_out(user)
        result.steps.append(SIGNED_OUT)
        status = revocations.record_sign_out(
            user.user_id, user.username, actor=actor, reason=reason
        )
    result.not_before = int(status.not_before)
    still = "they stay disabled" if user.disabled or not user.enabled else "new sign-ins work"
    result.steps.append(f"{_effect_line(result.not_before)}; {still}")
    return result
