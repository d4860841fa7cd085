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

from lifestyle.aws import client
from lifestyle.errors import ApplicationError, Conflict, NotFound, ValidationFailed
from ops_admin import audit, revocations
from ops_admin.revocations import AccountStatus

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

    action: str  # "disable" or "enable"
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


def _account(raw: dict[str, Any]) -> UserAccount:
    attributes = _attributes(raw)
    user_id = attributes["sub"]
    return UserAccount(
        username=raw["Username"],
        user_id=user_id,
        email=attributes.get("email"),
        enabled=bool(raw.get("Enabled", True)),
        status=str(raw.get("UserStatus", "UNKNOWN")),
        created_at=raw.get("UserCreateDate"),
        access=revocations.account_status(user_id),
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


def find_user(identifier: str) -> UserAccount:
    """The one user whose username, email or sub is ``identifier``: one
    ListUsers with a filter per attribute tried (usually one), plus a read
    of their access record. :class:`NotFound` if none, :class:`Conflict` if
    an email belongs to several users (name one by username or sub)."""
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


# --- Disable and enable -------------------------------------------------------------


def _clean_note(actor: str, reason: str) -> tuple[str, str]:
    actor, reason = actor.strip(), reason.strip()
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
    identifier: str, *, actor: str, reason: str, dry_run: bool = False
) -> UserActionResult:
    """Disable the user in Cognito, sign them out everywhere and revoke the
    tokens they hold (see the module's docstring). ``changed`` is False if
    they were already disabled; ``dry_run`` finds the user and says what
    would happen, changing nothing."""
    actor, reason = _clean_note(actor, reason)
    user = find_user(identifier)
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
        with _cognito("AdminUserGlobalSignOut"):
            cognito.admin_user_global_sign_out(UserPoolId=pool_id, Username=user.username)
    result.steps.append("signed out everywhere: refresh tokens revoked")
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
    identifier: str, *, actor: str, reason: str, dry_run: bool = False
) -> UserActionResult:
    """Let the user sign in again. Their tokens from before stay refused
    (the line moves to now); tokens from new sign-ins work. ``changed`` is
    False if they were not disabled."""
    actor, reason = _clean_note(actor, reason)
    user = find_user(identifier)
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
