"""Exports of everything a user has (GDPR article 15, access, and article
20, portability): ``POST /api/v1/me/export`` starts one, its status URL says
how it goes and, once it is ready, gives a short-lived download link.

**The zip.** ``profile.json``, ``goals.json``, ``activities.json`` and each
confirmed attachment's file under ``attachments/{activity_id}/``, with a
``README.txt`` that explains every file and field. Each record is what the
API itself returns for it (the apps' output serializers), so an export
reads like the API. Progress totals and period buckets are left out: they
are sums of the exported activities, kept only to make progress cheap to
read, and the app recomputes them from the activities. So are sync
tombstones (ids of deleted items), the account's sign-in status and these
export records. README.txt says so.

**The job.** One item per export in the user's partition, ``pk =
USER#{user_id}``, ``sk = EXPORT#{export_id}`` (:class:`ExportJob`): pending,
then running, then ready or failed, with its counts, its S3 key, a
non-personal failure reason and ``expires_at``, DynamoDB's TTL, so the job
goes with its file: both live :data:`KEEP_FOR` (the bucket's
``expire-exports`` lifecycle rule, lifestyle/provisioning.py, deletes the
file). One more item, ``sk = EXPORTS`` (:class:`LatestExport`), names the
latest export; starting one replaces it under its version (optimistic
locking, in the transaction that creates the job), so two requests at once
start one export, not two, and a request while one is pending or running
gets that one.

**Running it.** In Lambda the request only records the job and has Zappa
invoke the function again, asynchronously, to run :func:`export_run`
(``zappa.asynchronous``; see :func:`_dispatch`); elsewhere (a laptop, the
tests) it runs within the request. The run claims the job (pending ->
running, one conditional write, so a repeated invocation does nothing),
pages the partition one Query per page (goals, then activities), writes the
zip to a temporary file (Lambda's ``/tmp``), uploads it with SSE-S3 to
``exports/{user_id}/{export_id}.zip`` and marks the job ready on condition
it is still running: a run that went stale, or whose user's account was
deleted meanwhile, leaves no file (it is discarded).

**When a run dies.** A job pending longer than :data:`PENDING_STALE` (the
invocation was lost) or running longer than :data:`RUNNING_STALE` (the
function timed out or crashed) is reported failed (``timed_out``) and no
longer blocks a new export. A run stops by itself, as ``too_large``, past
:data:`RUN_SECONDS` or :data:`MAX_ATTACHMENT_BYTES` of files, rather than
be killed by Lambda's 30 s timeout or fill its 512 MB ``/tmp``.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any, TypeVar

from django.core.files.storage import storages
from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from accounts.apis import ProfileOutputSerializer
from accounts.services import profile_get
from activities.apis import ActivityOutputSerializer
from activities.attachment_apis import AttachmentOutputSerializer, shown
from activities.attachments import READY as ATTACHMENT_READY
from activities.attachments import attachments_of
from activities.models import Activity
from goals.apis import GoalOutputSerializer
from goals.models import Goal
from lifestyle.dynamo import (
    ConditionFailed,
    TableItem,
    Transaction,
    TransactionCancelled,
    query_page,
    update_existing,
    user_pk,
)
from lifestyle.errors import NotFound, ServiceUnavailable
from lifestyle.ids import new_ulid, normalize_id
from lifestyle.timeutil import rfc3339, utcnow

logger = logging.getLogger(__name__)

PENDING, RUNNING, READY, FAILED = "pending", "running", "ready", "failed"
STATUSES = (PENDING, RUNNING, READY, FAILED)
# Why an export failed: codes, never anything about the person or their data.
FAILURE_REASONS = {
    "timed_out": "The export stopped before it finished; start a new one.",
    "too_large": "Your data is too large to export in one file; contact support.",
    "unavailable": "A storage service was unavailable; start a new export later.",
    "not_started": "The export could not be started; start a new one.",
    "internal_error": "Something went wrong on our side; start a new export later.",
}
FAILURE_CODES = tuple(FAILURE_REASONS)

# The file and its job live this long (S3 lifecycle rule expire-exports).
KEEP_FOR = timedelta(days=7)
# How long a download link works.
DOWNLOAD_WINDOW = timedelta(minutes=10)
# A job not started by then never will be: Lambda keeps an asynchronous
# invocation queued for a while when throttled, rarely this long.
PENDING_STALE = timedelta(minutes=15)
# A run cannot outlive the function's timeout (30 s, zappa_settings.json);
# one still "running" after this died without saying so.
RUNNING_STALE = timedelta(minutes=2)
# The run gives up (too_large) once building the zip has taken this long,
# leaving the rest of the function's 30 s to upload it or record the failure.
RUN_SECONDS = 20.0
# Attachment bytes one zip may hold: Lambda's /tmp is 512 MB by default,
# and what goes in must also come out again through the upload.
MAX_ATTACHMENT_BYTES = 300 * 1024 * 1024
# Items per Query page (DynamoDB stops a page at 1 MB anyway).
QUERY_PAGE = 1000
LATEST_SK = "EXPORTS"
ENCRYPTION = "AES256"  # SSE-S3, as attachments
CHUNK = 1024 * 1024

T = TypeVar("T", bound=TableItem)


class ExportJob(TableItem, discriminator="ExportJob"):
    """One export of one user's data, ``sk = EXPORT#{export_id}``."""

    export_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    status = UnicodeAttribute(default=PENDING)
    # Epoch seconds: a pending or running job not finished by then is failed.
    stale_at = NumberAttribute()
    started_at = UTCDateTimeAttribute(null=True)
    finished_at = UTCDateTimeAttribute(null=True)
    goal_count = NumberAttribute(null=True)
    activity_count = NumberAttribute(null=True)
    attachment_count = NumberAttribute(null=True)  # files in the zip
    size_bytes = NumberAttribute(null=True)  # the zip's
    s3_key = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)  # a FAILURE_REASONS code
    expires_at = NumberAttribute()  # epoch seconds, DynamoDB TTL

    @classmethod
    def key(cls, user_id: str, export_id: str) -> ExportJob:
        return cls(user_pk(user_id), export_sk(export_id))


class LatestExport(TableItem, discriminator="LatestExport"):
    """Which export the user started last, ``sk = EXPORTS``."""

    export_id = UnicodeAttribute()
    expires_at = NumberAttribute()  # DynamoDB TTL, as the job's


def export_sk(export_id: str) -> str:
    return f"EXPORT#{export_id}"


def export_key(user_id: str, export_id: str) -> str:
    return f"exports/{user_id}/{export_id}.zip"


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _storage() -> Any:
    """The default (S3) storage, looked up on use as attachments do."""
    return storages["default"]


# --- Reading a job -------------------------------------------------------------------


@dataclass(frozen=True)
class ExportState:
    """A job as the API shows it, at one moment."""

    job: ExportJob
    status: str
    error: str | None
    download_url: str | None = None
    download_expires_at: datetime | None = None

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(int(self.job.expires_at), UTC)

    @property
    def counts(self) -> dict[str, int] | None:
        if self.status != READY:
            return None
        job = self.job
        return {
            "goals": int(job.goal_count or 0),
            "activities": int(job.activity_count or 0),
            "attachments": int(job.attachment_count or 0),
        }


def is_stale(job: ExportJob, now: datetime) -> bool:
    """Pending or running past its bound: the run died or never began."""
    return job.status in (PENDING, RUNNING) and job.stale_at <= now.timestamp()


def is_active(job: ExportJob, now: datetime) -> bool:
    return job.status in (PENDING, RUNNING) and not is_stale(job, now)


def _get_job(user_id: str, export_id: str) -> ExportJob | None:
    try:
        return ExportJob.get(user_pk(user_id), export_sk(export_id), consistent_read=True)
    except ExportJob.DoesNotExist:
        return None


def _get_latest(user_id: str) -> LatestExport | None:
    try:
        return LatestExport.get(user_pk(user_id), LATEST_SK, consistent_read=True)
    except LatestExport.DoesNotExist:
        return None


def download_filename(job: ExportJob) -> str:
    return f"lifestyle-export-{job.created_at:%Y-%m-%d}-{job.export_id}.zip"


def _download_url(job: ExportJob, now: datetime) -> tuple[str, datetime]:
    """A presigned GET for the zip, saved under a readable name, good for
    :data:`DOWNLOAD_WINDOW` (or until the export expires, if sooner)."""
    seconds = int(min(DOWNLOAD_WINDOW.total_seconds(), job.expires_at - now.timestamp()))
    url = _storage().url(
        job.s3_key,
        parameters={
            "ResponseContentDisposition": f'attachment; filename="{download_filename(job)}"',
            "ResponseContentType": "application/zip",
        },
        expire=max(seconds, 1),
    )
    return url, now + timedelta(seconds=max(seconds, 1))


def state_of(job: ExportJob, now: datetime | None = None) -> ExportState:
    """What the job is now: a stale one is failed (``timed_out``), a ready
    one comes with a fresh download link."""
    now = now or utcnow()
    if is_stale(job, now):
        return ExportState(job, FAILED, "timed_out")
    if job.status == READY:
        url, until = _download_url(job, now)
        return ExportState(job, READY, None, url, until)
    return ExportState(job, job.status, job.error if job.status == FAILED else None)


def export_get(*, user_id: str, export_id: str) -> ExportState:
    """The caller's export; anybody else's, a malformed id or an expired
    export (DynamoDB's TTL may lag a day or two) is not found."""
    canonical = normalize_id(export_id)
    job = _get_job(user_id, canonical) if canonical else None
    now = utcnow()
    if job is None or job.expires_at <= now.timestamp():
        raise NotFound("No such export.")
    return state_of(job, now)


# --- Starting one ----------------------------------------------------------------------


def export_start(*, user_id: str) -> tuple[ExportState, bool]:
    """Start an export of everything the user has, unless one is pending or
    running already: then that one. Returns its state and whether it is new.
    Two GetItems and, for a new export, one transaction and the dispatch."""
    latest = _get_latest(user_id)
    if latest is not None:
        current = _get_job(user_id, latest.export_id)
        if current is not None and is_active(current, utcnow()):
            return state_of(current), False
    job = _record_new(user_id, latest)
    if job is None:  # another request started one a moment ago
        return _latest_state(user_id), False
    logger.info("export %s of user %s started", job.export_id, user_id)
    try:
        _dispatch(job)
    except Exception:
        _mark_failed(job, "not_started")
        raise  # an AWS error: the API's 503, and the client starts again
    return state_of(_get_job(user_id, job.export_id) or job), True


def _record_new(user_id: str, latest: LatestExport | None) -> ExportJob | None:
    """The new job and the pointer to it, in one transaction guarded by the
    pointer's version as read; None if another request moved it first."""
    now, export_id = utcnow(), new_ulid()
    expires_at = _epoch(now + KEEP_FOR)
    job = ExportJob.key(user_id, export_id)
    job.export_id = export_id
    job.user_id = user_id
    job.status = PENDING
    job.stale_at = _epoch(now + PENDING_STALE)
    job.expires_at = expires_at
    pointer = LatestExport(user_pk(user_id), LATEST_SK, export_id=job.export_id)
    pointer.expires_at = expires_at
    if latest is not None:
        pointer.version = latest.version
    start = Transaction()
    start.put("job", job, condition=ExportJob.pk.does_not_exist())
    start.put("latest", pointer)  # the version condition is PynamoDB's
    try:
        start.commit()
    except TransactionCancelled as cancelled:
        if cancelled.conflicted or not cancelled.failed("latest"):
            raise ServiceUnavailable() from None
        return None
    return job


def _latest_state(user_id: str) -> ExportState:
    latest = _get_latest(user_id)
    job = _get_job(user_id, latest.export_id) if latest is not None else None
    if job is None:
        raise ServiceUnavailable()
    return state_of(job)


class _ConfiguredClients:
    """What Zappa's ``LambdaAsyncResponse`` asks of its ``boto_session``
    (``client("lambda")``), answered with this product's client: its retry
    policy and endpoint (lifestyle/aws.py), counted in the request log.
    Without it Zappa would use the plain boto3 client it builds at import."""

    @staticmethod
    def client(service: str) -> Any:
        from lifestyle.aws import client

        return client(service)


def _dispatch(job: ExportJob) -> None:
    """Run the export: in Lambda, in a new asynchronous invocation of this
    same function; elsewhere, now.

    Zappa's ``@task`` decides by ``AWS_LAMBDA_FUNCTION_NAME`` (set only in
    Lambda) and runs the function inline without it; its ``run()``, used
    here because it takes a ``boto_session``, always invokes, so the same
    test is made here first. The invocation's event names
    ``zappa.asynchronous.route_lambda_task``, which Zappa's handler imports
    and which calls ``accounts.exports.export_run`` with these keyword
    arguments. Zappa is imported only now: zappa.asynchronous builds four
    boto3 clients when imported (some 110 ms), which no other request
    should pay, and the Lambda package must keep botocore's models for them
    (deploy/package.py)."""
    arguments = {"user_id": job.user_id, "export_id": job.export_id}
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    if not function_name:
        export_run(**arguments)
        return
    from zappa.asynchronous import run

    response = run(
        export_run,
        kwargs=arguments,
        remote_aws_lambda_function_name=function_name,
        boto_session=_ConfiguredClients(),
    )
    if not response.sent:
        raise RuntimeError("Lambda did not accept the export's invocation")


# --- Running one -------------------------------------------------------------------------


class ExportTooLarge(Exception):
    """The user's data does not fit one export's time or space."""


@dataclass
class _Budget:
    """What the run may still spend: time, and attachment bytes."""

    deadline: float  # time.monotonic()
    bytes_left: int

    def check_time(self) -> None:
        if time.monotonic() >= self.deadline:
            raise ExportTooLarge("out of time")

    def take(self, size: int) -> None:
        if size > self.bytes_left:
            raise ExportTooLarge("too many attachment bytes")
        self.bytes_left -= size


@dataclass
class _Counts:
    goals: int = 0
    activities: int = 0
    attachments: int = 0
    missing_files: int = 0  # confirmed attachments whose file S3 no longer has


def export_run(*, user_id: str, export_id: str) -> str:
    """Build and upload the export, if it is still pending (a second
    invocation, or one after the job went stale, does nothing). Once the
    job is claimed, a failure is recorded on it, not raised. Returns what
    became of the job: ready, failed or skipped."""
    job = _claim(user_id, export_id)
    if job is None:
        logger.info("export %s of user %s is not pending: not run", export_id, user_id)
        return "skipped"
    key = export_key(user_id, export_id)
    try:
        with tempfile.TemporaryDirectory(prefix="export-") as workdir:
            path = os.path.join(workdir, "export.zip")
            budget = _Budget(time.monotonic() + RUN_SECONDS, MAX_ATTACHMENT_BYTES)
            counts = write_archive(path, job, budget, workdir)
            size = os.path.getsize(path)
            _upload(path, key)
    except Exception as error:
        reason = _reason(error)
        if reason == "internal_error":
            logger.exception("export %s of user %s failed", export_id, user_id)
        else:
            logger.warning(
                "export %s of user %s failed: %s (%s)",
                export_id,
                user_id,
                reason,
                type(error).__name__,
                exc_info=reason == "unavailable",
            )
        _mark_failed(job, reason)
        return FAILED
    if not _mark_ready(job, counts, size, key):
        logger.warning("export %s of user %s went stale or was deleted", export_id, user_id)
        _discard(user_id, key)
        return FAILED
    logger.info("export %s of user %s ready (%d bytes)", export_id, user_id, size)
    return READY


def _claim(user_id: str, export_id: str) -> ExportJob | None:
    """Pending -> running (one conditional UpdateItem); None if it is not
    pending, or stale, or gone."""
    now = utcnow()
    try:
        return update_existing(
            ExportJob.key(user_id, export_id),
            [
                ExportJob.status.set(RUNNING),
                ExportJob.started_at.set(now),
                ExportJob.stale_at.set(_epoch(now + RUNNING_STALE)),
            ],
            (ExportJob.status == PENDING) & (ExportJob.stale_at > now.timestamp()),
        )
    except ConditionFailed:
        return None


def _mark_ready(job: ExportJob, counts: _Counts, size: int, key: str) -> bool:
    """Ready, if the job is still running and not stale; kept
    :data:`KEEP_FOR` from now, as the file is."""
    now = utcnow()
    try:
        update_existing(
            ExportJob.key(job.user_id, job.export_id),
            [
                ExportJob.status.set(READY),
                ExportJob.finished_at.set(now),
                ExportJob.goal_count.set(counts.goals),
                ExportJob.activity_count.set(counts.activities),
                ExportJob.attachment_count.set(counts.attachments),
                ExportJob.size_bytes.set(size),
                ExportJob.s3_key.set(key),
                ExportJob.expires_at.set(_epoch(now + KEEP_FOR)),
            ],
            (ExportJob.status == RUNNING) & (ExportJob.stale_at > now.timestamp()),
        )
    except ConditionFailed:
        return False
    return True


def _mark_failed(job: ExportJob, reason: str) -> None:
    """Failed with ``reason``, unless it finished meanwhile. Best effort:
    a job that cannot be marked goes stale, which reads as failed."""
    try:
        update_existing(
            ExportJob.key(job.user_id, job.export_id),
            [
                ExportJob.status.set(FAILED),
                ExportJob.error.set(reason),
                ExportJob.finished_at.set(utcnow()),
            ],
            ExportJob.status.is_in(PENDING, RUNNING),
        )
    except ConditionFailed:
        pass
    except Exception:
        logger.warning("could not mark export %s failed", job.export_id, exc_info=True)


def _reason(error: Exception) -> str:
    """The failure's code for the client: what kind of failure, nothing more."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError
    from pynamodb.exceptions import PynamoDBException

    if isinstance(error, ExportTooLarge):
        return "too_large"
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return "too_large"  # /tmp is full
    if isinstance(error, BotoCoreError | ClientError | PynamoDBException | Boto3Error):
        return "unavailable"
    return "internal_error"


def _upload(path: str, key: str) -> None:
    """The zip to S3 through the storage's client, encrypted (SSE-S3).
    boto3 sends a large file in parts and aborts the upload if one fails."""
    storage = _storage()
    storage.bucket.Object(key).upload_file(
        path,
        ExtraArgs={"ContentType": "application/zip", "ServerSideEncryption": ENCRYPTION},
        Config=storage.transfer_config,
    )


def _discard(user_id: str, key: str) -> None:
    """Every version of ``key``, uploaded for a job that is no longer
    running: the bucket is versioned, and a plain delete would only hide the
    file behind a delete marker. Best effort: the lifecycle rule expires it
    anyway. (A failed upload leaves nothing to discard: boto3 aborts a
    multipart upload that fails, and the bucket's rule clears parts of one
    it could not abort after a day.)"""
    from lifestyle.aws import client

    s3 = client("s3")
    bucket = _storage().bucket_name
    try:
        listed = s3.list_object_versions(Bucket=bucket, Prefix=f"exports/{user_id}/")
        versions = [
            {"Key": entry["Key"], "VersionId": entry["VersionId"]}
            for entry in [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])]
            if entry["Key"] == key
        ]
        if versions:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": versions, "Quiet": True})
    except Exception:
        logger.warning("could not discard an export's file", exc_info=True)


# --- The zip ---------------------------------------------------------------------------


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _write_array(stream: IO[bytes], items: Iterable[Any]) -> int:
    """A JSON array, one item per line, written as the items come."""
    count = 0
    stream.write(b"[")
    for item in items:
        stream.write(b",\n" if count else b"\n")
        stream.write(_json_bytes(item))
        count += 1
    stream.write(b"\n]\n" if count else b"]\n")
    return count


def _pages(model: type[T], user_id: str, prefix: str, budget: _Budget) -> Iterator[list[T]]:
    """The user's items whose sort key starts with ``prefix``, in key order,
    a page at a time: one Query each."""
    start_key: dict[str, Any] | None = None
    while True:
        budget.check_time()
        items, start_key = query_page(
            model,
            user_pk(user_id),
            model.sk.startswith(prefix),
            limit=QUERY_PAGE,
            start_key=start_key,
            newest_first=False,
        )
        yield items
        if start_key is None:
            return


def _entry(name: str, when: datetime, compress: int = zipfile.ZIP_DEFLATED) -> zipfile.ZipInfo:
    """A zip entry dated ``when`` (UTC: zip dates carry no timezone)."""
    info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
    info.compress_type = compress
    return info


def write_archive(path: str, job: ExportJob, budget: _Budget, workdir: str) -> _Counts:
    """Write the export's zip at ``path``; ``workdir`` holds a scratch file."""
    user_id, now = job.user_id, utcnow()
    counts = _Counts()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        profile = ProfileOutputSerializer(profile_get(user_id=user_id)).data
        archive.writestr(_entry("profile.json", now), _json_bytes(profile) + b"\n")

        with archive.open(_entry("goals.json", now), "w") as stream:
            counts.goals = _write_array(
                stream,
                (
                    record
                    for page in _pages(Goal, user_id, "GOAL#", budget)
                    for record in GoalOutputSerializer(page, many=True).data
                ),
            )

        # The files go into the zip while the activities are read, so each
        # record can say whether its file is there: the records gather in a
        # scratch file meanwhile (zip entries are written one at a time).
        scratch = os.path.join(workdir, "activities.json")
        with open(scratch, "wb") as stream:
            counts.activities = _write_array(
                stream, _activity_records(archive, job, budget, counts)
            )
        archive.write(scratch, "activities.json")

        readme = readme_text(job, counts, now)
        archive.writestr(_entry("README.txt", now), readme.encode())
    return counts


def _activity_records(
    archive: zipfile.ZipFile, job: ExportJob, budget: _Budget, counts: _Counts
) -> Iterator[dict[str, Any]]:
    """Each activity as the API shows it, plus its confirmed attachments
    (as the attachments API lists them) with where their files are in the
    zip (null if S3 no longer has the file), the files added on the way."""
    for page in _pages(Activity, job.user_id, "ACTIVITY#", budget):
        for activity, shape in zip(
            page, ActivityOutputSerializer(page, many=True).data, strict=True
        ):
            record = dict(shape)
            files = []
            for attachment_id, attachment in sorted(attachments_of(activity).items()):
                if attachment.status != ATTACHMENT_READY:
                    continue
                name = _add_file(archive, activity.activity_id, attachment.key, budget)
                if name is None:
                    counts.missing_files += 1
                else:
                    counts.attachments += 1
                item = dict(AttachmentOutputSerializer(shown(attachment_id, attachment)).data)
                item["file"] = name
                files.append(item)
            record["attachments"] = files
            yield record


def _add_file(archive: zipfile.ZipFile, activity_id: str, key: str, budget: _Budget) -> str | None:
    """Copy an attachment's file from S3 into the zip, a chunk at a time;
    its name there, or None if S3 has no such file."""
    from botocore.exceptions import ClientError

    budget.check_time()
    try:
        stored = _storage().bucket.Object(key).get()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    name = f"attachments/{activity_id}/{key.rsplit('/', 1)[-1]}"
    with stored["Body"] as body:
        budget.take(int(stored["ContentLength"]))
        # Photos and PDFs are compressed already: stored as they are.
        with archive.open(_entry(name, utcnow(), zipfile.ZIP_STORED), "w") as entry:
            shutil.copyfileobj(body, entry, CHUNK)
    return name


README = """\
Your Lifestyle data
===================

Export {export_id}, made {made_at} for user {user_id}.
Goals: {goals}. Activities: {activities}. Attachment files: {attachments}.{missing}

Files
-----
profile.json      Your profile: one JSON object.
goals.json        Your goals, archived and completed ones included: a JSON array.
activities.json   Your logged activities, with their attachments: a JSON array.
attachments/      The files you attached, attachments/<activity id>/<attachment id>.<ext>.
README.txt        This file.

Every record is what the Lifestyle API returns for it. Text is UTF-8. The
arrays hold one record per line, in the order of their ids.

Formats
-------
- Times (created_at, updated_at, occurred_at, archived_at) are RFC 3339 in
  UTC, e.g. 2026-11-28T04:16:09.123456Z. null means "never".
- Dates (start_date, due_date, local_date) are ISO 8601 (2026-11-28), in the
  goal's own calendar: its timezone and day-start hour.
- Numbers that can have decimals (value, target) are strings, e.g. "12.5",
  so that no program rounds them.
- ids are ULIDs or the UUIDs your app chose.
- version counts the changes made to a record.

profile.json
------------
display_name, timezone (an IANA name such as Europe/Paris), week_start
(monday, sunday or saturday), day_start_hour (0-6: a moment before this
local hour counts for the day before), units (metric or imperial: how the
app shows measures), created_at, updated_at, version. A profile you never
saved shows the defaults, with null times and version 0.

goals.json
----------
id, title, description, category; kind: habit (done or not), count (a whole
number of times), amount (a quantity in the goal's unit) or duration
(seconds); unit: the unit you gave the goal; target: what the goal aims at
(per period for a recurring goal), in the goal's unit (seconds for
durations); period: none, daily, weekly or monthly; start_date, due_date;
timezone, week_start, day_start_hour: the calendar the goal counts in;
status: active, archived or completed; archived_at, created_at, updated_at,
version.

activities.json
---------------
id, goal_id (the goal in goals.json), value (habit: 1; count: a whole
number; amount: in the goal's unit; duration: seconds), occurred_at,
local_date (the day it counts for), note, created_at, updated_at, version,
and attachments: each with id, content_type, size (bytes), status,
created_at and file, its path in this zip (null if the file was gone).

Not included
------------
Progress totals, streaks and period sums: the API computes them from your
activities, which are all here. Records of deleted items kept briefly so
your other devices can catch up, your account's sign-in status, and the
records of your exports.

The export is deleted {expires}.
"""


def readme_text(job: ExportJob, counts: _Counts, made_at: datetime) -> str:
    missing = ""
    if counts.missing_files:
        missing = (
            f"\nAttachment files no longer stored: {counts.missing_files}; "
            'their records say "file": null.'
        )
    return README.format(
        export_id=job.export_id,
        made_at=rfc3339(made_at),
        user_id=job.user_id,
        goals=counts.goals,
        activities=counts.activities,
        attachments=counts.attachments,
        missing=missing,
        expires=f"{KEEP_FOR.days} days after it was made",
    )
