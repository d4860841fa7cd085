"""Attachments on activities: photos and PDFs kept in S3.

1. :func:`attachment_start` records a pending attachment on the activity
   item (one conditional UpdateItem, which also holds the per-activity
   limit under concurrency) and returns a presigned POST (SigV4) whose
   policy pins the key, the ``Content-Type``, the exact size and SSE-S3
   encryption. The client uploads straight to S3.
2. :func:`attachment_confirm` HEADs the stored object and checks it against
   what was declared. S3 itself enforces the policy; moto and some
   S3-compatible stores do not, so the check is ours as well: an object
   that breaks a rule is deleted with its record and the client told why.
3. Only ``ready`` attachments are listed, each with a 5-minute download URL.

The policy's ``content-length-range`` is ``[size, size]``, the exact size
declared, not ``[1, 10 MB]``: S3 then refuses any other size at upload
time, including a second upload through the same form before it expires,
and confirm's exact-size check only matters where the policy is not
enforced.

Files go through django-storages' default storage (``S3Storage``), whose
client is built from ``AWS_S3_ENDPOINT_URL`` and ``AWS_S3_SIGNATURE_VERSION``
(s3v4). Keys are given as they are, so ``AWS_LOCATION`` must stay empty.
Every change to an activity's attachments bumps the activity's version:
``activity_update`` rewrites the whole item, and must not do so from a
copy read before an attachment changed.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

from django.core.files.storage import storages
from pynamodb.expressions.condition import size as size_of
from pynamodb.expressions.update import Action

from activities.models import Activity, Attachment
from activities.selectors import activity_get
from lifestyle.dynamo import ConditionFailed, update_existing
from lifestyle.errors import Conflict, NotFound, ValidationFailed
from lifestyle.ids import new_ulid, normalize_id
from lifestyle.timeutil import utcnow

logger = logging.getLogger(__name__)

# Content types we accept, with the extension their keys get.
ALLOWED_TYPES = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/heic": ".heic",
    "application/pdf": ".pdf",
}
MAX_SIZE = 10 * 1024 * 1024  # bytes
MAX_PER_ACTIVITY = 10  # pending and ready together
UPLOAD_WINDOW = timedelta(minutes=15)
DOWNLOAD_WINDOW = timedelta(minutes=5)
# A pending upload older than this can no longer be completed (S3 refuses
# the expired form), so it may make room for a new one.
STALE_AFTER = UPLOAD_WINDOW + timedelta(minutes=5)
ENCRYPTION = "AES256"  # SSE-S3
PENDING, READY = "pending", "ready"
STATUSES = (PENDING, READY)


class UploadMissing(Conflict):
    code = "upload_missing"
    default_message = "Nothing has been uploaded for this attachment yet: upload it, then confirm."


class UploadRejected(ValidationFailed):
    code = "upload_rejected"
    default_message = "The uploaded file breaks the rules it was declared with; it was deleted."


class TooManyAttachments(ValidationFailed):
    code = "too_many_attachments"
    default_message = f"An activity can have at most {MAX_PER_ACTIVITY} attachments."


def _storage() -> Any:
    """The default storage, looked up on each use (not at import time), so it
    is built from the settings in force when first needed."""
    return storages["default"]


def activity_prefix(user_id: str, activity_id: str) -> str:
    return f"users/{user_id}/activities/{activity_id}/"


def attachment_key(user_id: str, activity_id: str, attachment_id: str, content_type: str) -> str:
    return f"{activity_prefix(user_id, activity_id)}{attachment_id}{ALLOWED_TYPES[content_type]}"


def attachments_of(activity: Activity) -> dict[str, Attachment]:
    """The activity's attachments by id. ``MapAttribute[str, Attachment]`` is
    a raw map to PynamoDB, whose values read back as plain dicts: they are
    typed here through the stored form."""
    stored = activity.serialize().get("attachments", {}).get("M", {})
    return {
        attachment_id: Attachment().deserialize(value["M"])
        for attachment_id, value in stored.items()
    }


def _find(activity: Activity, attachment_id: str) -> tuple[str, Attachment]:
    canonical = normalize_id(attachment_id)
    record = attachments_of(activity).get(canonical) if canonical else None
    if canonical is None or record is None:
        raise NotFound("No such attachment.")
    return canonical, record


def _check_declared(content_type: str, size: int) -> None:
    errors: dict[str, list[str]] = {}
    if content_type not in ALLOWED_TYPES:
        errors["content_type"] = [f"Must be one of: {', '.join(ALLOWED_TYPES)}."]
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_SIZE:
        errors["size"] = [f"Must be a whole number of bytes from 1 to {MAX_SIZE}."]
    if errors:
        raise ValidationFailed(fields=errors)


def _delete_files(activity_id: str, keys: list[str]) -> None:
    """Best effort: a file that cannot be deleted is logged, not raised."""
    from botocore.exceptions import BotoCoreError, ClientError

    storage = _storage()
    for key in keys:
        try:
            storage.delete(key)
        except (BotoCoreError, ClientError) as error:
            logger.warning(
                "could not delete an attachment file of activity %s: %s",
                activity_id,
                type(error).__name__,
            )


def _remove_record(activity: Activity, attachment_id: str) -> None:
    with contextlib.suppress(ConditionFailed):  # already gone (or the activity is)
        update_existing(
            activity,
            [Activity.attachments[attachment_id].remove()],
            Activity.attachments[attachment_id].exists(),
        )


# --- Services ------------------------------------------------------------------


def attachment_start(
    *, user_id: str, activity_id: str, content_type: str, size: int
) -> tuple[Activity, str, dict[str, Any]]:
    """Record a pending attachment and return the presigned POST for it:
    ``{"url", "fields", "expires_at"}``."""
    _check_declared(content_type, size)
    activity = activity_get(user_id=user_id, activity_id=activity_id)
    now = utcnow()
    records = attachments_of(activity)
    stale: dict[str, Attachment] = {}
    if len(records) >= MAX_PER_ACTIVITY:
        stale = {
            stale_id: record
            for stale_id, record in records.items()
            if record.status == PENDING and record.created_at + STALE_AFTER < now
        }
        if len(records) - len(stale) >= MAX_PER_ACTIVITY:
            raise TooManyAttachments()
    attachment_id = new_ulid()
    key = attachment_key(user_id, activity.activity_id, attachment_id, content_type)
    record = Attachment(
        key=key, content_type=content_type, size=size, status=PENDING, created_at=now
    )
    # Abandoned uploads make room: their files first, so none outlives its record.
    _delete_files(activity.activity_id, [old.key for old in stale.values()])
    actions: list[Action] = [Activity.attachments[stale_id].remove() for stale_id in stale]
    actions.append(Activity.attachments[attachment_id].set(record))
    # Checked against the item before the update: stale entries still count.
    condition = size_of(Activity.attachments) < MAX_PER_ACTIVITY + len(stale)
    for stale_id in stale:
        condition &= Activity.attachments[stale_id]["status"] == PENDING
    try:
        activity = update_existing(activity, actions, condition)
    except ConditionFailed as failed:
        if failed.current is None:
            raise NotFound("No such activity.") from None
        raise TooManyAttachments() from None

    storage = _storage()
    post = storage.bucket.meta.client.generate_presigned_post(
        Bucket=storage.bucket_name,
        Key=key,  # boto3 adds the exact bucket and key conditions
        Fields={"Content-Type": content_type, "x-amz-server-side-encryption": ENCRYPTION},
        Conditions=[
            {"Content-Type": content_type},
            {"x-amz-server-side-encryption": ENCRYPTION},
            ["content-length-range", size, size],
        ],
        ExpiresIn=int(UPLOAD_WINDOW.total_seconds()),
    )
    # Taken before signing, so the form is good until at least this time.
    expires_at: datetime = now + UPLOAD_WINDOW
    return activity, attachment_id, {**post, "expires_at": expires_at}


def _head(key: str) -> Any | None:
    """The stored object's metadata (one HEAD), or None if there is none."""
    from botocore.exceptions import ClientError

    stored = _storage().bucket.Object(key)
    try:
        stored.load()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return stored


def _problems(record: Attachment, stored: Any) -> dict[str, list[str]]:
    """What the stored object breaks of the declared rules, by field."""
    problems: dict[str, list[str]] = {}
    length = stored.content_length
    if length != record.size or length > MAX_SIZE:
        problems["size"] = [f"The file has {length} bytes; {record.size} were declared."]
    stored_type = str(stored.content_type or "")[:100]
    if stored_type != record.content_type or stored_type not in ALLOWED_TYPES:
        problems["content_type"] = [
            f"The file is stored as {stored_type!r}; {record.content_type} was declared."
        ]
    if stored.server_side_encryption != ENCRYPTION:
        problems["encryption"] = [f"The file must be sent with SSE-S3 ({ENCRYPTION})."]
    return problems


def attachment_confirm(*, user_id: str, activity_id: str, attachment_id: str) -> Attachment:
    """Check the uploaded file and mark the attachment ready (idempotent)."""
    activity = activity_get(user_id=user_id, activity_id=activity_id)
    attachment_id, record = _find(activity, attachment_id)
    if record.status == READY:
        return record
    issued = attachment_key(user_id, activity.activity_id, attachment_id, record.content_type)
    if record.key != issued:
        # Never touch a file outside the caller's own prefix: drop the record only.
        _remove_record(activity, attachment_id)
        raise UploadRejected(fields={"key": ["The attachment does not point at its own file."]})
    stored = _head(record.key)
    if stored is None:
        raise UploadMissing()
    problems = _problems(record, stored)
    if problems:
        _delete_files(activity.activity_id, [record.key])
        _remove_record(activity, attachment_id)
        logger.info(
            "attachment %s refused at confirm: %s", attachment_id, ", ".join(sorted(problems))
        )
        raise UploadRejected(fields=problems)
    try:
        activity = update_existing(
            activity,
            [Activity.attachments[attachment_id]["status"].set(READY)],
            Activity.attachments[attachment_id]["key"] == record.key,
        )
    except ConditionFailed:
        raise NotFound("No such attachment.") from None  # deleted meanwhile
    return attachments_of(activity)[attachment_id]


def attachment_list(*, user_id: str, activity_id: str) -> list[tuple[str, Attachment, str]]:
    """Ready attachments, oldest first, each with a short-lived download URL."""
    activity = activity_get(user_id=user_id, activity_id=activity_id)
    storage = _storage()
    expire = int(DOWNLOAD_WINDOW.total_seconds())
    return [
        (attachment_id, record, storage.url(record.key, expire=expire))
        for attachment_id, record in sorted(attachments_of(activity).items())
        if record.status == READY
    ]


def attachment_delete(*, user_id: str, activity_id: str, attachment_id: str) -> None:
    """Delete an attachment (pending or ready): its file, then its record, so
    a failure leaves something the client can delete again."""
    activity = activity_get(user_id=user_id, activity_id=activity_id)
    attachment_id, record = _find(activity, attachment_id)
    _storage().delete(record.key)
    _remove_record(activity, attachment_id)


def attachment_files_delete(*, activity: Activity) -> None:
    """Delete every file of an activity (after the activity itself is
    deleted): the recorded ones and any other under its prefix. Best effort:
    failures are logged, not raised."""
    from botocore.exceptions import BotoCoreError, ClientError

    prefix = activity_prefix(activity.user_id, activity.activity_id)
    keys = {record.key for record in attachments_of(activity).values()}
    try:
        _dirs, files = _storage().listdir(prefix)
        keys.update(f"{prefix}{name}" for name in files)
    except (BotoCoreError, ClientError) as error:
        logger.warning(
            "could not list the attachment files of activity %s: %s",
            activity.activity_id,
            type(error).__name__,
        )
    _delete_files(activity.activity_id, sorted(keys))
