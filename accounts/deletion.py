"""Deleting a user's account and everything we hold about them (GDPR
article 17, the right to erasure): ``DELETE /api/v1/me``, finished by a
schedule if the request could not finish it.

**The record.** A deletion is one item outside the user's partition:
``pk = DELETIONS``, ``sk = PENDING#{sub}`` while it runs, so every pending
deletion is one Query (``begins_with(sk, "PENDING#")``), and
``sk = DONE#{sub}`` once it is complete, written in the same transaction that
removes the pending one. The done record is the proof of erasure: the sub,
when it was asked for and finished, the steps, how many files and items went.
It holds no username, e-mail or anything else about the person, and DynamoDB's
TTL (``expires_at``) removes it after ``ACCOUNT_DELETION_PROOF_DAYS``. Deletions
are rare (a few a minute at most), far below what one partition takes, so
the partition is not sharded as the audit log's is.

**The steps**, in :data:`STEPS` order, each idempotent and each marked in the
record (``steps_done``) when it is over, so a run that stops anywhere (an
error, the Lambda's timeout, a kill) is resumed at the step it was in:

1. ``revoke``: disable the user in Cognito (no sign-in, no token refresh),
   sign them out everywhere (refresh tokens revoked), and draw their line in
   the revocation list (:mod:`ops_admin.revocations`): the API refuses every
   token they hold within ``REVOCATION_CACHE_SECONDS``, so no device writes
   while their data goes. The request does this step whatever its time
   budget.
2. ``files``: every object version and delete marker under ``users/{sub}/``
   (attachments) and ``exports/{sub}/`` (exports), listed and deleted a page
   at a time until a listing comes back empty: the bucket is versioned, and a
   plain delete would only hide a file behind a marker.
3. ``items``: every item in the partition ``pk = USER#{sub}``, whatever its
   kind (goals, activities, totals, profile, exports, tombstones, the account
   status, kinds added later): a keys-only consistent Query page, deleted by
   BatchWriteItem 25 at a time (unprocessed keys retried with backoff), until
   a Query returns nothing.
4. ``cognito``: delete the Cognito user (AdminDeleteUser; a user already gone
   counts as deleted). Only now, so a deletion that is stuck is still a
   (disabled) user support can find.
5. ``verify``: once ``ACCOUNT_DELETION_SETTLE_SECONDS`` have passed since the
   revocation, steps 2 and 3 run once more and must find what they find
   (usually nothing). A container may serve its copy of the revocation list
   for ``REVOCATION_CACHE_SECONDS``, and a request it let in before the line
   may write for up to the function's 30 s timeout; a background job (an
   export finishing) may write too. Until then the deletion waits, pending.
6. ``audit``: one ``account_delete`` entry in the staff audit log, actor
   ``self:{sub}``, target the sub, with the counts. A run that stops between
   writing it and marking the step writes a second one when resumed: at
   least once, never lost.

Then the pending record becomes the done one.

**One worker at a time.** Running a deletion takes a lease on its record
(``lease_owner``, ``lease_until``, a conditional update); each step's mark and
each page of work renews it, on condition it is still ours. A request and the
schedule, or two schedules, never work on one deletion together; a run that
dies keeps the lease until it expires (``LEASE_SECONDS``), then any run takes
over.

**What stays.** The user's entry in the revocation list (sub -> the second
their tokens stopped working): the tombstone that keeps the tokens they still
hold refused until they expire. Nothing else names them there, and the entry
is pruned on the first write after ``REVOCATION_WINDOW_SECONDS`` (24 h, the
longest a Cognito token lives), by when every such token has expired and, the
Cognito user being deleted, no new one can exist. The staff audit log keeps
its entries (append-only, the record of what staff and users did): the
deletion's entry names the sub only; entries staff wrote earlier about the
user name them as staff did then. The done record, as above, for 30 days.

**Resuming.** :func:`resume_pending` finishes every pending deletion it can
(``manage.py account_deletions --resume``, and :func:`scheduled_resume`, run
by Zappa's ``events`` every 15 minutes).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from django.conf import settings
from pynamodb.attributes import (
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.expressions.update import Action

from lifestyle.aws import client
from lifestyle.dynamo import (
    ConditionFailed,
    TableItem,
    Transaction,
    TransactionCancelled,
    update_existing,
    user_pk,
)
from lifestyle.ids import new_ulid
from lifestyle.timeutil import rfc3339, utcnow
from ops_admin import audit, revocations

logger = logging.getLogger(__name__)

PK = "DELETIONS"
PENDING, DONE = "pending", "done"
STEPS = ("revoke", "files", "items", "cognito", "verify", "audit")
# What a client sends to confirm (see accounts/apis.py).
CONFIRMATION = "delete my account"
AUDIT_ACTION = "account_delete"
LEASE_SECONDS = 120
# Keys a Query page brings back; BatchWriteItem takes 25 requests at most.
QUERY_PAGE = 500
BATCH_SIZE = 25
BATCH_ATTEMPTS = 8
# Object versions a ListObjectVersions page brings back; DeleteObjects takes 1000.
S3_PAGE = 1000
# What a scheduled run leaves of the function's time, to save its state.
SCHEDULE_MARGIN_SECONDS = 5.0
_SUB = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class AccountDeletion(TableItem, discriminator="AccountDeletion"):
    """A deletion, pending (``sk = PENDING#{sub}``) or done (``DONE#{sub}``)."""

    user_id = UnicodeAttribute()  # the Cognito sub: nothing else about the person
    status = UnicodeAttribute()
    requested_at = UTCDateTimeAttribute()
    steps_done = UnicodeSetAttribute(default=set)
    revoked_at = NumberAttribute(null=True)  # epoch seconds: when step 1 finished
    files_deleted = NumberAttribute(default=0)  # object versions and delete markers
    items_deleted = NumberAttribute(default=0)
    attempts = NumberAttribute(default=0)  # runs that took the lease
    last_error = UnicodeAttribute(null=True)  # "step: error type (AWS code)"
    lease_owner = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)  # epoch seconds
    completed_at = UTCDateTimeAttribute(null=True)
    expires_at = NumberAttribute(null=True)  # DynamoDB TTL, done records only


@dataclass(frozen=True)
class DeletionState:
    """A deletion as the API and the command show it."""

    user_id: str
    status: str  # PENDING or DONE
    requested_at: datetime
    steps_done: tuple[str, ...]
    completed_at: datetime | None = None
    revoked_at: float | None = None
    files_deleted: int = 0
    items_deleted: int = 0
    attempts: int = 0
    last_error: str | None = None
    lease_until: float | None = None

    @property
    def done(self) -> bool:
        return self.status == DONE

    @property
    def steps_left(self) -> tuple[str, ...]:
        return tuple(step for step in STEPS if step not in self.steps_done)

    @property
    def settles_at(self) -> float | None:
        """When the ``verify`` step may run (epoch seconds); None before
        the revocation."""
        if self.revoked_at is None:
            return None
        return self.revoked_at + float(settings.ACCOUNT_DELETION_SETTLE_SECONDS)

    @property
    def waiting(self) -> bool:
        """Only the verify step (and what follows) is left, and it is too
        early for it."""
        settles_at = self.settles_at
        return (
            self.steps_left[:1] == ("verify",)
            and settles_at is not None
            and now_seconds() < settles_at
        )

    @property
    def held(self) -> bool:
        """A run holds the lease on it now."""
        return self.lease_until is not None and self.lease_until > now_seconds()


def _state(record: AccountDeletion) -> DeletionState:
    return DeletionState(
        user_id=record.user_id,
        status=record.status,
        requested_at=record.requested_at,
        steps_done=tuple(step for step in STEPS if step in (record.steps_done or set())),
        completed_at=record.completed_at,
        revoked_at=None if record.revoked_at is None else float(record.revoked_at),
        files_deleted=int(record.files_deleted or 0),
        items_deleted=int(record.items_deleted or 0),
        attempts=int(record.attempts or 0),
        last_error=record.last_error,
        lease_until=None if record.lease_until is None else float(record.lease_until),
    )


# What a run of one deletion came to.
FINISHED = "done"  # completed now
ALREADY_DONE = "already_done"  # completed before
WAITING = "waiting"  # only the verify step is left, and it is too early
HELD = "held"  # another run holds the lease
OUT_OF_TIME = "out_of_time"  # the time budget ran out: resumed later
FAILED = "failed"  # a step failed: resumed later


@dataclass(frozen=True)
class Outcome:
    state: DeletionState
    result: str  # one of the constants above


def now_seconds() -> float:
    return utcnow().timestamp()


def check_user_id(user_id: str) -> str:
    """``user_id`` if it is a Cognito sub (a lowercase UUID): the prefixes
    and the partition erased are built from it, so nothing else may pass."""
    if not isinstance(user_id, str) or not _SUB.fullmatch(user_id):
        raise ValueError("not a Cognito sub")
    return user_id


def pending_sk(user_id: str) -> str:
    return f"PENDING#{user_id}"


def done_sk(user_id: str) -> str:
    return f"DONE#{user_id}"


def user_prefixes(user_id: str) -> tuple[str, ...]:
    """The S3 prefixes that hold the user's files: attachments and exports."""
    check_user_id(user_id)
    return (f"users/{user_id}/", f"exports/{user_id}/")


def actor_for(user_id: str) -> str:
    """How the audit log names a user acting on their own account."""
    return f"self:{user_id}"


def _get(sk: str) -> AccountDeletion | None:
    try:
        return AccountDeletion.get(PK, sk, consistent_read=True)
    except AccountDeletion.DoesNotExist:
        return None


def deletion_state(user_id: str) -> DeletionState | None:
    """The user's deletion, pending or done; None if there is none."""
    check_user_id(user_id)
    record = _get(pending_sk(user_id)) or _get(done_sk(user_id))
    return None if record is None else _state(record)


def pending_deletions() -> list[DeletionState]:
    """Every pending deletion, oldest sub first: one Query (paged by DynamoDB)."""
    found = AccountDeletion.query(
        PK, AccountDeletion.sk.startswith("PENDING#"), consistent_read=True
    )
    return [_state(record) for record in found]


# --- Asking for it ------------------------------------------------------------------


def account_delete(*, user_id: str) -> DeletionState:
    """Record the user's request to delete their account, then carry it out
    for up to ``ACCOUNT_DELETION_REQUEST_SECONDS``: always the revocation, and
    as many further steps as fit (see the module's docstring). The state
    says whether it is done; if not, the schedule finishes it. Asking again
    while a deletion is pending continues that one."""
    check_user_id(user_id)
    _record_request(user_id)
    deadline = time.monotonic() + settings.ACCOUNT_DELETION_REQUEST_SECONDS
    return _process(user_id, deadline=deadline).state


def _record_request(user_id: str) -> None:
    """The pending record, unless the user's deletion is pending or done
    already (one transaction: the put and a check that no done one exists)."""
    record = AccountDeletion(
        PK, pending_sk(user_id), user_id=user_id, status=PENDING, requested_at=utcnow()
    )
    record.created_at = record.updated_at = utcnow()
    request = Transaction()
    request.put("pending", record, condition=AccountDeletion.pk.does_not_exist())
    request.check(
        "done", AccountDeletion, (PK, done_sk(user_id)), AccountDeletion.pk.does_not_exist()
    )
    try:
        request.commit()
    except TransactionCancelled as cancelled:
        if cancelled.conflicted:
            raise  # another write to these items at this moment: the API's 503, retried
        # Pending already (a second request) or done: carry on with that one.
        return
    logger.info("account deletion requested for user %s", user_id)


# --- Running one deletion ------------------------------------------------------------


class _Stop(Exception):
    """Not a failure: this run stops, the deletion stays pending."""


class OutOfTime(_Stop):
    pass


class LeaseLost(_Stop):
    """Another run took the deletion over (ours expired), or finished it."""


class NotSettled(_Stop):
    """The verify step must wait for late writes to have happened."""


class ErasureIncomplete(Exception):
    """AWS answered, but did not delete everything asked."""


@dataclass
class _Run:
    """One run of one deletion, holding its lease."""

    user_id: str
    owner: str
    deadline: float | None  # time.monotonic()
    record: AccountDeletion
    step: str = ""  # the step running, for the error message

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def _update(self, actions: list[Action]) -> None:
        actions.append(AccountDeletion.lease_until.set(now_seconds() + LEASE_SECONDS))
        try:
            self.record = update_existing(
                AccountDeletion(PK, pending_sk(self.user_id)),
                actions,
                AccountDeletion.lease_owner == self.owner,
            )
        except ConditionFailed:
            raise LeaseLost() from None

    def progress(self, **counts: int) -> None:
        """After a page of work: add it to the record's counts, renew the
        lease, and stop here if the time is up (the step resumes)."""
        actions: list[Action] = [
            getattr(AccountDeletion, name).add(count) for name, count in counts.items() if count
        ]
        self._update(actions)
        if self.out_of_time():
            raise OutOfTime()

    def mark(self, step: str, *extra: Action) -> None:
        self._update([AccountDeletion.steps_done.add({step}), *extra])


def _claim(user_id: str, owner: str) -> AccountDeletion | None:
    """Take the lease on the pending deletion; None if another run holds it
    or it is pending no more."""
    now = now_seconds()
    lease = AccountDeletion.lease_until
    try:
        return update_existing(
            AccountDeletion(PK, pending_sk(user_id)),
            [
                AccountDeletion.lease_owner.set(owner),
                lease.set(now + LEASE_SECONDS),
                AccountDeletion.attempts.add(1),
            ],
            lease.does_not_exist() | (lease < now),
        )
    except ConditionFailed:
        return None


def _release(run: _Run, error: str | None) -> None:
    """Give the lease back (noting the error, if any) so the next run need
    not wait for it to expire. Best effort: the lease expires anyway."""
    actions: list[Action] = [
        AccountDeletion.lease_owner.remove(),
        AccountDeletion.lease_until.remove(),
    ]
    if error is not None:
        actions.append(AccountDeletion.last_error.set(error))
    try:
        update_existing(
            AccountDeletion(PK, pending_sk(run.user_id)),
            actions,
            AccountDeletion.lease_owner == run.owner,
        )
    except Exception:  # already stopping; the lease expires on its own
        logger.warning("could not release the lease on user %s's deletion", run.user_id)


def _describe(error: Exception) -> str:
    """The error's type and AWS's code (botocore's, or under PynamoDB's
    wrapper): no message, which may quote keys or names."""
    if isinstance(error, ClientError):
        code = _error_code(error)
    else:
        code = str(getattr(error, "cause_response_code", None) or "")
    return f"{type(error).__name__} ({code})" if code else type(error).__name__


def _step_function(step: str) -> Callable[[_Run], None]:
    """The function of ``step``, looked up when it runs (tests replace them)."""
    return {
        "revoke": revoke_access,
        "files": delete_files,
        "items": delete_items,
        "cognito": delete_cognito_user,
        "verify": verify_erased,
        "audit": record_audit,
    }[step]


def _process(user_id: str, *, deadline: float | None) -> Outcome:
    """Run the pending deletion's remaining steps, if no other run holds it."""
    record = _get(pending_sk(user_id))
    if record is None:
        done = _get(done_sk(user_id))
        if done is None:
            raise LookupError("no deletion for this user")
        return Outcome(_state(done), ALREADY_DONE)
    if _state(record).waiting:
        return Outcome(_state(record), WAITING)
    owner = new_ulid()
    claimed = _claim(user_id, owner)
    if claimed is None:
        return _current(user_id, HELD)
    run = _Run(user_id=user_id, owner=owner, deadline=deadline, record=claimed)
    try:
        for step in STEPS:
            if step in (run.record.steps_done or set()):
                continue
            if step != "revoke" and run.out_of_time():
                raise OutOfTime()
            run.step = step
            _step_function(step)(run)
            extra = [AccountDeletion.revoked_at.set(now_seconds())] if step == "revoke" else []
            run.mark(step, *extra)
        run.step = "finish"
        return Outcome(_finish(run), FINISHED)
    except LeaseLost:
        return _current(user_id, HELD)
    except NotSettled:
        _release(run, None)
        return _current(user_id, WAITING)
    except OutOfTime:
        _release(run, None)
        return _current(user_id, OUT_OF_TIME)
    except Exception as error:
        logger.exception("account deletion of user %s failed at %s", user_id, run.step)
        _release(run, f"{run.step}: {_describe(error)}")
        return _current(user_id, FAILED)


def _current(user_id: str, result: str) -> Outcome:
    record = _get(pending_sk(user_id)) or _get(done_sk(user_id))
    if record is None:
        raise LookupError("no deletion for this user")
    return Outcome(_state(record), result)


def _finish(run: _Run) -> DeletionState:
    """The pending record becomes the done one (one transaction), kept
    ``ACCOUNT_DELETION_PROOF_DAYS`` as proof of erasure."""
    pending = run.record
    now = utcnow()
    done = AccountDeletion(
        PK,
        done_sk(run.user_id),
        user_id=run.user_id,
        status=DONE,
        requested_at=pending.requested_at,
        steps_done=set(STEPS),
        revoked_at=pending.revoked_at,
        files_deleted=pending.files_deleted,
        items_deleted=pending.items_deleted,
        attempts=pending.attempts,
        completed_at=now,
        expires_at=int((now + timedelta(days=settings.ACCOUNT_DELETION_PROOF_DAYS)).timestamp()),
    )
    done.created_at = done.updated_at = now
    finish = Transaction()
    finish.delete(
        "pending",
        AccountDeletion(PK, pending_sk(run.user_id)),
        AccountDeletion.lease_owner == run.owner,
    )
    finish.put("done", done, condition=AccountDeletion.pk.does_not_exist())
    try:
        finish.commit()
    except TransactionCancelled:
        raise LeaseLost() from None
    logger.info("account deletion of user %s done", run.user_id)
    return _state(done)


# --- The steps -------------------------------------------------------------------------


def _pool_id() -> str:
    if not settings.COGNITO_USER_POOL_ID:
        raise RuntimeError("COGNITO_USER_POOL_ID is not set: which user pool is this?")
    return str(settings.COGNITO_USER_POOL_ID)


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _cognito_username(user_id: str) -> str | None:
    """The username of the user with this sub (ListUsers, exact match), or
    None if the pool has no such user. Looked up each time rather than
    stored, so the deletion record never holds a username."""
    found = client("cognito-idp").list_users(
        UserPoolId=_pool_id(), Filter=f'sub = "{check_user_id(user_id)}"', Limit=1
    )["Users"]
    return str(found[0]["Username"]) if found else None


def _unless_gone(call: Callable[[], Any]) -> None:
    """Run a Cognito call on a user; a user deleted meanwhile is no error."""
    try:
        call()
    except ClientError as error:
        if _error_code(error) != "UserNotFoundException":
            raise


def revoke_access(run: _Run) -> None:
    """Cognito disables the user and revokes their refresh tokens; the API
    refuses the tokens they hold (the revocation line, drawn after Cognito
    so no token can be issued after it). A user already gone from Cognito
    still gets the line: tokens issued before may still be unexpired."""
    cognito, pool_id = client("cognito-idp"), _pool_id()
    username = _cognito_username(run.user_id)
    if username is not None:
        _unless_gone(lambda: cognito.admin_disable_user(UserPoolId=pool_id, Username=username))
        _unless_gone(
            lambda: cognito.admin_user_global_sign_out(UserPoolId=pool_id, Username=username)
        )
    revocations.record(
        run.user_id,
        username or run.user_id,  # kept on the account status, which step 3 deletes
        disabled=True,
        actor=actor_for(run.user_id),
        reason="account deletion requested by the user",
    )


def _versions(prefix: str) -> list[dict[str, str]]:
    """One page of object versions and delete markers under ``prefix``."""
    page = client("s3").list_object_versions(
        Bucket=settings.AWS_STORAGE_BUCKET_NAME, Prefix=prefix, MaxKeys=S3_PAGE
    )
    listed = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
    return [{"Key": entry["Key"], "VersionId": entry["VersionId"]} for entry in listed]


def _purge_prefix(run: _Run, prefix: str) -> None:
    """Delete every version of every object under ``prefix``, a page at a
    time, until a listing is empty (what was deleted is not listed again)."""
    if not prefix.endswith("/") or prefix.count("/") < 2:
        raise ValueError("a user's prefix ends with their sub and a slash")
    while objects := _versions(prefix):
        answer = client("s3").delete_objects(
            Bucket=settings.AWS_STORAGE_BUCKET_NAME,
            Delete={"Objects": objects, "Quiet": True},
        )
        errors = answer.get("Errors", [])
        if errors:
            codes = sorted({str(error.get("Code")) for error in errors})
            raise ErasureIncomplete(
                f"S3 kept {len(errors)} of {len(objects)} object versions: {', '.join(codes)}"
            )
        run.progress(files_deleted=len(objects))


def delete_files(run: _Run) -> None:
    """Every version and delete marker under the user's prefixes."""
    for prefix in user_prefixes(run.user_id):
        _purge_prefix(run, prefix)


def _partition_keys(user_id: str) -> list[dict[str, Any]]:
    """One consistent, keys-only Query page of the user's partition."""
    answer = client("dynamodb").query(
        TableName=settings.DYNAMODB_TABLE,
        KeyConditionExpression="#pk = :pk",
        ProjectionExpression="#pk, #sk",
        ExpressionAttributeNames={"#pk": "pk", "#sk": "sk"},
        ExpressionAttributeValues={":pk": {"S": user_pk(check_user_id(user_id))}},
        ConsistentRead=True,
        Limit=QUERY_PAGE,
    )
    return list(answer.get("Items", []))


def _chunks(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def backoff(attempt: int) -> None:
    """Wait before retrying unprocessed deletes: 0.1 s, doubling, at most 2 s."""
    time.sleep(min(0.05 * 2**attempt, 2.0))


def _batch_delete(keys: Iterable[dict[str, Any]]) -> None:
    """BatchWriteItem deletes, retrying what DynamoDB leaves unprocessed
    (it does when throttled) with exponential backoff."""
    table = settings.DYNAMODB_TABLE
    requests: list[dict[str, Any]] = [{"DeleteRequest": {"Key": key}} for key in keys]
    for attempt in range(BATCH_ATTEMPTS):
        if attempt:
            backoff(attempt)
        answer = client("dynamodb").batch_write_item(RequestItems={table: requests})
        requests = answer.get("UnprocessedItems", {}).get(table, [])
        if not requests:
            return
    raise ErasureIncomplete(
        f"DynamoDB left {len(requests)} deletes unprocessed after {BATCH_ATTEMPTS} attempts"
    )


def delete_items(run: _Run) -> None:
    """Every item in the user's partition, whatever its kind."""
    while keys := _partition_keys(run.user_id):
        for chunk in _chunks(keys, BATCH_SIZE):
            _batch_delete(chunk)
        run.progress(items_deleted=len(keys))


def delete_cognito_user(run: _Run) -> None:
    """AdminDeleteUser; a user already gone is deleted."""
    username = _cognito_username(run.user_id)
    if username is None:
        return
    pool_id = _pool_id()
    _unless_gone(
        lambda: client("cognito-idp").admin_delete_user(UserPoolId=pool_id, Username=username)
    )


def verify_erased(run: _Run) -> None:
    """Once nothing can write for the user any more, erase again whatever
    was written since the first pass (normally nothing: one listing per
    prefix and one Query)."""
    settles_at = _state(run.record).settles_at
    if settles_at is None:
        raise RuntimeError("verify before revoke")
    if now_seconds() < settles_at:
        raise NotSettled()
    delete_files(run)
    delete_items(run)


def record_audit(run: _Run) -> None:
    """The staff audit log's entry: the user acted on themselves; only the
    sub names them."""
    state = _state(run.record)
    audit.record(
        actor=actor_for(run.user_id),
        action=AUDIT_ACTION,
        target=run.user_id,
        detail={
            "requested_at": rfc3339(state.requested_at),
            "files_deleted": str(state.files_deleted),
            "items_deleted": str(state.items_deleted),
        },
    )


# --- Resuming ---------------------------------------------------------------------------


def resume_pending(
    *,
    max_seconds: float | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Carry every pending deletion as far as it goes: the schedule's and
    ``manage.py account_deletions --resume``'s work. Safe to run at any time
    and any number of times, alongside requests and other runs (each
    deletion has one worker at a time). ``max_seconds`` bounds the whole
    run: what is left is resumed next time."""
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    outcomes: list[Outcome] = []
    for pending in pending_deletions():
        if deadline is not None and time.monotonic() >= deadline:
            outcome = Outcome(pending, OUT_OF_TIME)
        else:
            try:
                outcome = _process(pending.user_id, deadline=deadline)
            except LookupError:  # finished by another run since the Query
                continue
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes


def _seconds_left(context: Any) -> float | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    return max(1.0, float(remaining()) / 1000 - SCHEDULE_MARGIN_SECONDS)


def scheduled_resume(event: dict[str, Any], context: Any) -> dict[str, int]:
    """Zappa's scheduled event (``events`` in zappa_settings.json): resume
    pending deletions within the invocation's time, and say how it went."""
    outcomes = resume_pending(max_seconds=_seconds_left(context))
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.result] = counts.get(outcome.result, 0) + 1
    level = logging.WARNING if counts.get(FAILED) else logging.INFO
    logger.log(level, "account deletions resumed: %s", counts or "none pending")
    return counts
