"""Staff sign-in to the console: a username and password checked by Cognito
on the server, allowed only for the staff groups, and slowed down after
repeated failures.

:func:`sign_in` asks Cognito (InitiateAuth, USER_PASSWORD_AUTH: no AWS
permission needed), verifies the ID token it returns exactly as the API
verifies a bearer token, and answers a :class:`Staff` (who, their groups,
when the token expires) or raises :class:`SignInRefused` with the message to
show. Every outcome is written to the audit log. The console keeps no token:
its session holds the :class:`Staff` and ends when the token would have.

Failures are counted per username in the table (one small item with a TTL,
shared by every Lambda container): after ``CONSOLE_FREE_FAILURES`` each
further attempt must wait twice as long as the one before, up to
``CONSOLE_MAX_DELAY_SECONDS``, and is refused without asking Cognito until
then. A success clears the count. Counting per username, not per address,
keeps a password-guesser to a handful of tries an hour whatever addresses
they use; the price is that they can make a staff member wait minutes,
never lock them out. Cognito's own lockout still applies underneath.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from pynamodb.attributes import NumberAttribute
from pynamodb.exceptions import DoesNotExist

from lifestyle.auth import TokenRejected, token_verifier
from lifestyle.aws import client
from lifestyle.dynamo import TableItem
from ops_admin import audit

logger = logging.getLogger(__name__)

SUPPORT = "ops-support"
ADMIN = "ops-admin"
STAFF_GROUPS = frozenset({SUPPORT, ADMIN})
MAX_USERNAME = 128
MAX_PASSWORD = 256

WRONG_CREDENTIALS = "Wrong username or password."
NOT_STAFF = (
    "This account is not a staff account: only members of ops-support or ops-admin "
    "may use the console."
)
DISABLED = "This account is disabled. Ask an ops-admin to enable it."
RESET_NEEDED = (
    "This account must set a new password before it can sign in; the console cannot do "
    "that. Ask an ops-admin to set one."
)
UNAVAILABLE = "Sign-in is unavailable: Cognito did not answer. Try again in a minute."


class SignInRefused(Exception):
    """The sign-in failed; ``str()`` is the message for the person signing in
    (never the detail of why Cognito refused, beyond what they may know)."""

    def __init__(self, message: str, *, reason: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason  # for the audit log: wrong_credentials, not_staff...
        self.retry_after = retry_after


@dataclass(frozen=True)
class Staff:
    """A signed-in staff member, as their session remembers them."""

    username: str
    user_id: str
    groups: frozenset[str]
    signed_in_at: int  # epoch seconds: Cognito's auth_time
    expires_at: int  # epoch seconds: when the ID token expires

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.groups

    @property
    def role(self) -> str:
        return ADMIN if self.is_admin else SUPPORT

    def as_session(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "user_id": self.user_id,
            "groups": sorted(self.groups),
            "signed_in_at": self.signed_in_at,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_session(cls, data: Any) -> Staff | None:
        """The staff member a session names, or None if it names nobody (an
        older layout, or no sign-in)."""
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                username=str(data["username"]),
                user_id=str(data["user_id"]),
                groups=frozenset(str(group) for group in data["groups"]) & STAFF_GROUPS,
                signed_in_at=int(data["signed_in_at"]),
                expires_at=int(data["expires_at"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


# --- Slowing down repeated failures ---------------------------------------------------


class SignInFailures(TableItem, discriminator="SignInFailures"):
    """Recent failed sign-ins to one username (``pk = SIGNIN#{hash}``): the
    key holds a hash, so the table never lists who was tried."""

    failures = NumberAttribute(default=0)
    last_failure = NumberAttribute(default=0)  # epoch seconds
    expires_at = NumberAttribute()  # DynamoDB TTL


def _failures_key(username: str) -> tuple[str, str]:
    digest = hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]
    return f"SIGNIN#{digest}", "FAILURES"


def now_seconds() -> float:
    return time.time()


def delay_after(failures: int) -> int:
    """Seconds to wait after ``failures`` recent failures before trying again."""
    extra = failures - settings.CONSOLE_FREE_FAILURES
    if extra < 0:
        return 0
    delay = settings.CONSOLE_FAILURE_DELAY_SECONDS * 2 ** min(extra, 20)
    return int(min(delay, settings.CONSOLE_MAX_DELAY_SECONDS))


def _recent_failures(username: str, now: float) -> SignInFailures | None:
    try:
        item = SignInFailures.get(*_failures_key(username), consistent_read=True)
    except DoesNotExist:
        return None
    if now - float(item.last_failure) > settings.CONSOLE_FAILURE_WINDOW_SECONDS:
        return None
    return item


def wait_seconds(username: str) -> int:
    """How long ``username`` must wait before the next attempt (0: now)."""
    now = now_seconds()
    item = _recent_failures(username, now)
    if item is None:
        return 0
    ready_at = float(item.last_failure) + delay_after(int(item.failures))
    return max(0, int(ready_at - now + 0.999))


def count_failure(username: str) -> None:
    """One more failure: an atomic add, or a fresh count if the last one is
    older than the window."""
    now = now_seconds()
    pk, sk = _failures_key(username)
    keep = settings.CONSOLE_FAILURE_WINDOW_SECONDS + settings.CONSOLE_MAX_DELAY_SECONDS
    expires = int(now + keep)
    if _recent_failures(username, now) is None:
        fresh = SignInFailures(pk, sk, failures=1, last_failure=int(now), expires_at=expires)
        fresh.save(add_version_condition=False)
        return
    item = SignInFailures(pk, sk)
    item.update(
        actions=[
            SignInFailures.failures.add(1),
            SignInFailures.last_failure.set(int(now)),
            SignInFailures.expires_at.set(expires),
        ],
        add_version_condition=False,  # concurrent failures all count
    )


def clear_failures(username: str) -> None:
    SignInFailures(*_failures_key(username)).delete(add_version_condition=False)


# --- Signing in -----------------------------------------------------------------------


def _clean(username: str, password: str) -> str:
    username = username.strip()
    if not username or not password:
        raise SignInRefused("Enter your username and password.", reason="incomplete")
    if len(username) > MAX_USERNAME or len(password) > MAX_PASSWORD:
        raise SignInRefused(WRONG_CREDENTIALS, reason="too_long")
    if any(ord(char) < 32 for char in username):
        raise SignInRefused(WRONG_CREDENTIALS, reason="control_characters")
    return username


def _cognito_tokens(username: str, password: str) -> dict[str, Any]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = client("cognito-idp").initiate_auth(
            ClientId=settings.COGNITO_APP_CLIENT_ID,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = str(error.response.get("Error", {}).get("Message", ""))
        if code == "NotAuthorizedException" and "disabled" in message.lower():
            raise SignInRefused(DISABLED, reason="disabled") from None
        if code in {"NotAuthorizedException", "UserNotFoundException"}:
            raise SignInRefused(WRONG_CREDENTIALS, reason="wrong_credentials") from None
        if code == "PasswordResetRequiredException":
            raise SignInRefused(RESET_NEEDED, reason="password_reset_required") from None
        logger.warning("Console sign-in: Cognito answered %s", code)
        raise SignInRefused(UNAVAILABLE, reason=f"cognito_{code or 'error'}") from None
    except BotoCoreError as error:
        logger.warning("Console sign-in: Cognito unreachable (%s)", type(error).__name__)
        raise SignInRefused(UNAVAILABLE, reason="cognito_unreachable") from None
    result = answer.get("AuthenticationResult")
    if not result:
        challenge = answer.get("ChallengeName", "a challenge")
        if challenge == "NEW_PASSWORD_REQUIRED":
            raise SignInRefused(RESET_NEEDED, reason="new_password_required")
        raise SignInRefused(
            f"Cognito asks for {challenge}, which the console does not support.",
            reason=f"challenge_{challenge}",
        )
    return dict(result)


def _staff(id_token: str) -> Staff:
    try:
        claims = token_verifier().verify(id_token)
    except TokenRejected as rejected:
        logger.error("Console sign-in: Cognito's ID token failed verification: %s", rejected)
        raise SignInRefused(UNAVAILABLE, reason="token_rejected") from None
    groups = claims.get("cognito:groups") or []
    staff_groups = frozenset(str(g) for g in groups if isinstance(g, str)) & STAFF_GROUPS
    if not staff_groups:
        raise SignInRefused(NOT_STAFF, reason="not_staff")
    signed_in = claims.get("auth_time") or claims.get("iat") or now_seconds()
    return Staff(
        username=str(claims.get("cognito:username") or claims["sub"]),
        user_id=str(claims["sub"]),
        groups=staff_groups,
        signed_in_at=int(signed_in),
        expires_at=int(claims["exp"]),
    )


def sign_in(username: str, password: str) -> Staff:
    """The staff member these credentials belong to, or :class:`SignInRefused`.
    Every attempt that names a username is audited, refused or not."""
    typed = username.strip()
    try:
        username = _clean(typed, password)
        wait = wait_seconds(username)
        if wait:
            raise SignInRefused(
                f"Too many failed sign-ins for this username. Try again in {wait} s.",
                reason="slowed_down",
                retry_after=wait,
            )
        try:
            staff = _staff(_cognito_tokens(username, password)["IdToken"])
        except SignInRefused as refused:
            if refused.reason == "wrong_credentials":
                count_failure(username)
            raise
    except SignInRefused as refused:
        if typed:  # as typed, cut to a username's length for the log
            audit.record(
                actor=typed[:MAX_USERNAME],
                action="sign_in_failed",
                target=typed[:MAX_USERNAME],
                result="refused",
                detail={"reason": refused.reason},
            )
        raise
    clear_failures(username)
    audit.record(actor=staff.username, action="sign_in", target=staff.username)
    return staff
