"""Revoked sign-ins: the API refuses a user's tokens from before a moment.

Disabling a user in Cognito stops new sign-ins, and a global sign-out
revokes their refresh tokens, but the ID and access tokens they already
hold stay valid until they expire (an hour for our app client, at most
24 h): the API checks tokens offline, against the pool's keys, and Cognito
cannot recall a JWT. So the API keeps its own list, ``sub -> not_before``
(epoch seconds), and refuses a token of that user whose sign-in happened at
or before ``not_before`` (:func:`is_revoked`, called by
``lifestyle.auth.CognitoAuthentication`` after the token's signature and
claims check out).

Which claim: ``auth_time``, the moment the user actually signed in
(``iat`` only when a token has no ``auth_time``). A token refreshed later
from the same session gets a new ``iat`` but keeps that ``auth_time``, so
comparing ``auth_time`` refuses the whole session, even a token refreshed
with a refresh token that somehow outlived the global sign-out; a new
sign-in after the user is enabled again has a later ``auth_time`` and
works.

The line moves twice: disabling sets it to the moment Cognito confirmed the
disable (no token can be issued after that), and enabling moves it to the
moment of the enable. No token was issued while the user was disabled, so
that still refuses exactly the old tokens, and it also covers any token
stamped a little late by a clock running ahead of ours. A sign-out
everywhere (:func:`record_sign_out`, the console's "Sign out everywhere")
moves it to the moment Cognito revoked the refresh tokens, disabling
nobody: every session from before ends, and the user may sign in again at
once. Token times are whole seconds, so the second of the line itself is
refused: a user enabled (or signed out) and signing in within that same
second must sign in once more.

Storage and cost: one item, ``pk = REVOCATIONS``, ``sk = ACTIVE``, holding
the map (:class:`RevocationList`). Each process reads it at most once per
``REVOCATION_CACHE_SECONDS`` (default 5) and every request it serves
shares that copy (:class:`RevocationCache`), so the check adds no DynamoDB
request to a request; a user disabled now is refused by every container
within that many seconds. Who did what and why lives beside it, in the
user's own partition (:class:`AccountStatus`, ``sk = ACCOUNT_STATUS``),
written in the same transaction: the list every container rereads stays
small (about 60 bytes an entry), and staff's free-text reasons stay out of
it.

Entries older than ``REVOCATION_WINDOW_SECONDS`` (24 h, the longest token
lifetime Cognito allows) are pruned on the next write: every token such an
entry would refuse has expired by then, and the global sign-out revoked the
refresh tokens that could have made new ones. Readers need no pruning: an
old entry refuses only tokens that are expired anyway.

Scale: the item is bounded at ``REVOCATION_MAX_ENTRIES`` (4000, about
240 KB of DynamoDB's 400 KB limit), i.e. 4000 disables or enables within
24 h; past that a disable still disables the user in Cognito and signs them
out, then fails loudly here (:class:`RevocationListFull`) instead of
growing the item past what DynamoDB stores. At that scale, shard the list
(``sk = ACTIVE#{n}`` by a hash of the sub, read with one BatchGetItem), or
keep one ``REVOKED#{sub}`` item per user with ``expires_at`` as the TTL and
read it together with the request's own items. Reading the list costs half
a read unit per 4 KB, once per container every 5 s at most.

Failure: if the list cannot be read (DynamoDB unreachable or throttling),
a process that has read it before keeps serving that copy and retries
after one more cache window (a request that gets this far needs DynamoDB
anyway, and staff cannot revoke anyone while it is down); a process that
has never read it answers 503 with Retry-After, rather than let every
token in or lock everyone out without a word.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from pynamodb.attributes import (
    BooleanAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import PynamoDBException

from lifestyle.dynamo import TableItem, Transaction, TransactionCancelled, user_pk
from lifestyle.errors import ApplicationError, ServiceUnavailable
from lifestyle.timeutil import utcnow

logger = logging.getLogger(__name__)

LIST_PK, LIST_SK = "REVOCATIONS", "ACTIVE"
ACCOUNT_SK = "ACCOUNT_STATUS"
UNAVAILABLE = "Sign-in checks are unavailable; retry shortly."
WRITE_ATTEMPTS = 5  # optimistic-locking retries when staff act at the same moment
_AWS_ERRORS = (PynamoDBException, BotoCoreError, ClientError)


class RevocationList(TableItem, discriminator="RevocationList"):
    """The one item every process rereads: ``entries`` maps a user's sub to
    the epoch second their earlier sign-ins stop working."""

    entries = MapAttribute[str, Any](default=dict)


class AccountStatus(TableItem, discriminator="AccountStatus"):
    """A user's access as staff last set it, and who did it and why
    (``pk = USER#{sub}``, ``sk = ACCOUNT_STATUS``). The audit log to come
    records each change; this is the current state."""

    user_id = UnicodeAttribute()
    username = UnicodeAttribute()
    disabled = BooleanAttribute(default=False)
    not_before = NumberAttribute()  # the user's line in the list, epoch seconds
    disabled_at = UTCDateTimeAttribute(null=True)
    disabled_by = UnicodeAttribute(null=True)
    disabled_reason = UnicodeAttribute(null=True)
    enabled_at = UTCDateTimeAttribute(null=True)
    enabled_by = UnicodeAttribute(null=True)
    enabled_reason = UnicodeAttribute(null=True)
    # The last sign-out everywhere that did not disable them (null on items
    # written before there was one).
    signed_out_at = UTCDateTimeAttribute(null=True)
    signed_out_by = UnicodeAttribute(null=True)
    signed_out_reason = UnicodeAttribute(null=True)


class RevocationListFull(ApplicationError):
    status = 503
    code = "revocation_list_full"
    default_message = "The revocation list is full."


class RevocationConflict(ApplicationError):
    status = 409
    code = "conflict"
    default_message = "Others changed the revocation list at the same time; retry."


def _entries(item: RevocationList | None) -> dict[str, int]:
    if item is None:
        return {}
    return {sub: int(at) for sub, at in item.entries.as_dict().items()}


def _get_list(*, consistent: bool) -> RevocationList | None:
    try:
        return RevocationList.get(LIST_PK, LIST_SK, consistent_read=consistent)
    except RevocationList.DoesNotExist:
        return None


def read_list() -> dict[str, int]:
    """The list as stored: one eventually consistent GetItem (half the cost
    of a consistent one; DynamoDB catches up well within the cache window)."""
    return _entries(_get_list(consistent=False))


def account_status(user_id: str) -> AccountStatus | None:
    try:
        return AccountStatus.get(user_pk(user_id), ACCOUNT_SK, consistent_read=True)
    except AccountStatus.DoesNotExist:
        return None


def now_seconds() -> int:
    return int(time.time())


def record(
    user_id: str, username: str, *, disabled: bool, actor: str, reason: str
) -> AccountStatus:
    """Draw the user's line at this second and record who did it and why:
    the list and the user's status change in one transaction, each
    guarded by its version (a concurrent change is read again and retried).
    Entries past the window are pruned on the way."""

    def note(status: AccountStatus) -> None:
        status.disabled = disabled
        if disabled:
            status.disabled_at, status.disabled_by, status.disabled_reason = utcnow(), actor, reason
        else:
            status.enabled_at, status.enabled_by, status.enabled_reason = utcnow(), actor, reason

    return _draw_line(user_id, username, note)


def record_sign_out(user_id: str, username: str, *, actor: str, reason: str) -> AccountStatus:
    """Draw the user's line at this second, as :func:`record` does, and
    note the sign-out; whether they are disabled stays as it was (a user
    who was not disabled may sign in again straight away)."""

    def note(status: AccountStatus) -> None:
        status.signed_out_at, status.signed_out_by, status.signed_out_reason = (
            utcnow(),
            actor,
            reason,
        )

    return _draw_line(user_id, username, note)


def _draw_line(user_id: str, username: str, note: Callable[[AccountStatus], None]) -> AccountStatus:
    for _ in range(WRITE_ATTEMPTS):
        line = now_seconds()
        stored = _get_list(consistent=True)
        listed = stored or RevocationList(LIST_PK, LIST_SK)
        oldest = line - settings.REVOCATION_WINDOW_SECONDS
        entries = {sub: at for sub, at in _entries(stored).items() if at >= oldest}
        entries[user_id] = line
        if len(entries) > settings.REVOCATION_MAX_ENTRIES:
            raise RevocationListFull(
                f"The revocation list holds {len(entries) - 1} revocations from the last "
                f"{settings.REVOCATION_WINDOW_SECONDS} s, its limit: the user's current tokens "
                "stay valid until they expire. Shard the list (see ops_admin/revocations.py)."
            )
        listed.entries = entries
        listed.updated_at = utcnow()

        status = account_status(user_id) or AccountStatus(
            user_pk(user_id), ACCOUNT_SK, user_id=user_id, username=username
        )
        status.username = username
        status.not_before = line
        status.updated_at = utcnow()
        note(status)

        transaction = Transaction()
        transaction.put("list", listed)
        transaction.put("status", status)
        try:
            transaction.commit()
        except TransactionCancelled:
            continue  # someone else changed one of them since we read it: read again
        return status
    raise RevocationConflict()


# --- The check the API makes on every authenticated request -------------------------


def sign_in_time(claims: Mapping[str, Any]) -> int | None:
    """When the token's session began: ``auth_time``, else ``iat``."""
    for claim in ("auth_time", "iat"):
        value = claims.get(claim)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
    return None


class RevocationCache:
    """The list as this process last read it, reread at most once per
    ``REVOCATION_CACHE_SECONDS`` and shared by every request (and thread)."""

    def __init__(self) -> None:
        self._entries: dict[str, int] | None = None
        self._checked_at = 0.0  # time.monotonic() of the last read attempt
        self._read_at = 0.0  # ... and of the last one that worked
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget the copy: the next request reads the list again."""
        with self._lock:
            self._entries = None
            self._checked_at = self._read_at = 0.0

    def _fresh(self) -> dict[str, int] | None:
        if time.monotonic() - self._checked_at < settings.REVOCATION_CACHE_SECONDS:
            return self._entries
        return None

    def entries(self) -> dict[str, int]:
        entries = self._fresh()
        if entries is not None:
            return entries
        with self._lock:
            entries = self._fresh()  # another thread may have just read it
            if entries is not None:
                return entries
            try:
                entries = read_list()
            except _AWS_ERRORS as error:
                self._checked_at = time.monotonic()  # try again after one window
                if self._entries is None:
                    logger.error(
                        "Revocation list unreadable and never read: %s", type(error).__name__
                    )
                    raise ServiceUnavailable(UNAVAILABLE) from error
                logger.warning(
                    "Revocation list unreadable (%s); using the copy read %.0f s ago",
                    type(error).__name__,
                    self._checked_at - self._read_at,
                )
                return self._entries
            self._entries = entries
            self._checked_at = self._read_at = time.monotonic()
            return entries


cache = RevocationCache()


def is_revoked(claims: Mapping[str, Any]) -> bool:
    """Whether staff revoked the sign-in this (verified) token belongs to.
    A listed user's token that says nothing of when it was issued is refused."""
    line = cache.entries().get(str(claims["sub"]))
    if line is None:
        return False
    signed_in = sign_in_time(claims)
    return signed_in is None or signed_in <= line
