"""The console's Backups area: the live table's backups and restored copies,
and (for ops-admin) taking a backup, restoring one, restoring to a point in
time, and proving a restored copy equal to the live table.

Any staff member may look; every form and every POST is ops-admin's, and
the server refuses the others (403) whatever the page shows. The work is
:mod:`ops_admin.backups`' (the same functions as ``manage.py backup``, with
the same audit entries); a view parses the form, calls one, and renders.

Restores never write over anything: the target is always a new
``{table}-restored-*`` table, and the operator must type its name to
confirm, so a stray click or a pasted link starts nothing. On AWS a restore
takes minutes to hours: the new table shows as CREATING until it is ready,
and only then can it be verified.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError
from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lifestyle.timeutil import rfc3339
from ops_admin import backups
from ops_admin.backups import Backup, BackupError, Comparison, TableInfo
from ops_admin.console import ADMINS, ANY_STAFF, staff_view
from ops_admin.staff_auth import Staff

PAGE_SIZE = 20
MAX_NAME = 255  # DynamoDB's limit for table and backup names
MAX_ARN = 1024
MAX_TIME_TEXT = 64
# Verifying reads both tables in full, inside one request that API Gateway
# ends after 29 s: above this size (DynamoDB's own figure, refreshed about
# every six hours) the console sends the operator to `manage.py backup verify`.
VERIFY_MAX_BYTES = 64 * 1024 * 1024
BACKUP_BADGES = {"AVAILABLE": "badge-ok", "CREATING": "badge-warn", "DELETED": "badge-bad"}
TABLE_BADGES = {"ACTIVE": "badge-ok", "CREATING": "badge-warn", "UPDATING": "badge-warn"}


# --- Showing things ---------------------------------------------------------------------


def utc_text(when: datetime | None) -> str:
    """``2026-11-28 10:26:47 UTC``: what staff read (``rfc3339`` is for machines)."""
    if when is None:
        return "unknown"
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def size_text(size: int | None) -> str:
    """``123 bytes``, ``2,048 bytes (2.0 KiB)``: exact, and readable."""
    if size is None:
        return "unknown"
    text = f"{size:,} bytes"
    if size < 1024:
        return text
    value, unit = size / 1024, "KiB"
    for bigger in ("MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{text} ({value:.1f} {unit})"


def problem_text(error: Exception) -> str:
    """A staff-facing sentence for an AWS failure (never a traceback)."""
    if isinstance(error, BackupError):
        return error.message
    return f"AWS could not be reached: {error}"


def problem_status(error: Exception) -> int:
    """502 when AWS refused or could not be reached, else the error's own
    (400 bad input, 404 no such thing, 409 not now)."""
    if isinstance(error, BackupError) and not error.aws_code:
        return error.status
    return 502


class NotNow(BackupError):
    """Fine input, wrong moment (a restore still running, a table too big
    for a console request)."""

    status = 409


@dataclass(frozen=True)
class BackupRow:
    backup: Backup
    created: str
    created_iso: str
    size: str
    items: str
    badge: str
    restorable: bool


@dataclass(frozen=True)
class TableRow:
    table: TableInfo
    created: str
    restored_to: str
    source: str
    items: str
    size: str
    badge: str
    ready: bool


def backup_row(backup: Backup) -> BackupRow:
    return BackupRow(
        backup=backup,
        created=utc_text(backup.created_at),
        created_iso=rfc3339(backup.created_at),
        size=size_text(backup.size_bytes),
        items="unknown" if backup.item_count is None else f"about {backup.item_count:,}",
        badge=BACKUP_BADGES.get(backup.status, ""),
        restorable=backup.status == "AVAILABLE",
    )


def table_row(table: TableInfo, names: dict[str, str]) -> TableRow:
    if table.source_backup_arn:
        source = "backup " + names.get(
            table.source_backup_arn, table.source_backup_arn.rsplit("/", 1)[-1]
        )
    else:
        source = "point in time"
    return TableRow(
        table=table,
        created=utc_text(table.created_at),
        restored_to=utc_text(table.restored_to),
        source=source,
        items="unknown" if table.item_count is None else f"about {table.item_count:,}",
        size=size_text(table.size_bytes),
        badge=TABLE_BADGES.get(table.status, "badge-bad"),
        ready=table.status == "ACTIVE",
    )


def with_item_count(backup: Backup) -> Backup:
    """The backup with its item count (only DescribeBackup has it); the
    listed one if that fails (deleted meanwhile, say): a count is a nicety."""
    try:
        return backups.describe_backup(backup.arn)
    except (BackupError, BotoCoreError):
        return backup


# --- Forms ------------------------------------------------------------------------------------


def name_field(label: str, *, required: bool = True) -> forms.CharField:
    return forms.CharField(label=label, max_length=MAX_NAME, required=required, strip=True)


class CreateBackupForm(forms.Form):
    name = name_field("Backup name", required=False)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"] or backups.default_backup_name()
        try:
            return backups.validate_backup_name(name)
        except BackupError as error:
            raise forms.ValidationError(error.message) from None


class ConfirmedTargetForm(forms.Form):
    """A new table's name, typed a second time to confirm."""

    target = name_field("New table")
    confirm = forms.CharField(
        label="Type the new table's name to confirm",
        max_length=MAX_NAME,
        strip=True,
        error_messages={"required": "Type the new table's name to confirm: nothing was started."},
    )

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean() or {}
        target, typed = cleaned.get("target"), cleaned.get("confirm")
        if target and typed and typed != target:
            self.add_error(
                "confirm",
                f"You typed {typed!r}, but the new table is {target!r}: type its name exactly "
                "to confirm. Nothing was started.",
            )
        return cleaned


class RestoreForm(ConfirmedTargetForm):
    backup = forms.CharField(max_length=MAX_ARN, widget=forms.HiddenInput)


class PointInTimeForm(ConfirmedTargetForm):
    at = forms.CharField(label="Restore to", max_length=MAX_TIME_TEXT, strip=True)

    def clean_at(self) -> datetime | None:
        """``latest`` (None), or a time: UTC unless it carries an offset."""
        text = self.cleaned_data["at"]
        if text.lower() == "latest":
            return None
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise forms.ValidationError(
                f"{text!r} is not a time: give 'latest' or a UTC time such as "
                "2026-11-28T09:00:00Z (YYYY-MM-DD HH:MM:SS, an offset may be added)."
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.astimezone(UTC)


class VerifyForm(forms.Form):
    table = name_field("Restored table")


# --- The list ----------------------------------------------------------------------------------


def page_number(request: HttpRequest, pages: int) -> int:
    text = request.GET.get("page", "1")
    try:
        number = int(text)
    except ValueError:
        number = 0
    if not 1 <= number <= max(pages, 1):
        messages.warning(
            request, f"There is no page {text[:20]!r} of backups: showing the first page."
        )
        return 1
    return number


def index_page(
    request: HttpRequest, staff: Staff, create_form: CreateBackupForm, status: int = 200
) -> HttpResponse:
    live = settings.DYNAMODB_TABLE
    context: dict[str, Any] = {
        "staff": staff,
        "section": "backups",
        "live": live,
        "can_act": staff.is_admin,
        "create_form": create_form,
        "default_name": backups.default_backup_name(),
        "verify_max": size_text(VERIFY_MAX_BYTES),
    }
    names: dict[str, str] = {}
    try:
        found = backups.list_backups(live)
    except (BackupError, BotoCoreError) as error:
        context["backups_problem"] = problem_text(error)
    else:
        names = {backup.arn: backup.name for backup in found}
        pages = (len(found) + PAGE_SIZE - 1) // PAGE_SIZE
        number = page_number(request, pages)
        shown = found[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
        context.update(
            backup_rows=[backup_row(with_item_count(backup)) for backup in shown],
            backup_count=len(found),
            page=number,
            pages=pages,
            previous_page=number - 1 if number > 1 else None,
            next_page=number + 1 if number < pages else None,
        )
    try:
        restored = backups.restored_tables(live)
    except (BackupError, BotoCoreError) as error:
        context["restored_problem"] = problem_text(error)
    else:
        context["table_rows"] = [table_row(table, names) for table in restored]
    try:
        earliest, latest = backups.restorable_window(live)
    except (BackupError, BotoCoreError) as error:
        context["pitr_problem"] = problem_text(error)
    else:
        context["window"] = (utc_text(earliest), utc_text(latest))
    return render(request, "ops_admin/backups.html", context, status=status)


@require_GET
@staff_view(ANY_STAFF)
def index(request: HttpRequest, staff: Staff) -> HttpResponse:
    return index_page(request, staff, CreateBackupForm())


def back_to_list() -> HttpResponse:
    return HttpResponseRedirect(reverse("ops:backups"))


@require_POST
@staff_view(ADMINS)
def create(request: HttpRequest, staff: Staff) -> HttpResponse:
    form = CreateBackupForm(request.POST)
    if not form.is_valid():
        return index_page(request, staff, form, status=400)
    live = settings.DYNAMODB_TABLE
    try:
        backup = backups.audited_create_backup(
            live, form.cleaned_data["name"], actor=staff.username
        )
    except (BackupError, BotoCoreError) as error:
        form.add_error(None, f"No backup was taken. {problem_text(error)}")
        return index_page(request, staff, form, status=problem_status(error))
    messages.success(request, f"Backup {backup.name} of {live} started: it is {backup.status}.")
    return back_to_list()


# --- Restoring ----------------------------------------------------------------------------------


def live_backup(arn: str) -> Backup:
    """The live table's backup with this ARN, or why it cannot be restored here."""
    live = settings.DYNAMODB_TABLE
    if not arn:
        raise BackupError("Choose the backup to restore from the list of backups.")
    if len(arn) > MAX_ARN:
        raise BackupError("That is not a DynamoDB backup ARN (it is far too long).")
    backup = backups.describe_backup(arn)
    if backup.table != live:
        raise BackupError(
            f"Backup {backup.name} is of table {backup.table}: the console restores only backups "
            f"of the live table, {live}."
        )
    return backup


def _page(staff: Staff) -> dict[str, Any]:
    """What every backups page shows: who is looking, and the live table."""
    return {"staff": staff, "section": "backups", "live": settings.DYNAMODB_TABLE}


def restore_page(
    request: HttpRequest,
    staff: Staff,
    *,
    backup: Backup | None,
    form: RestoreForm | None,
    problem: str = "",
    status: int = 200,
) -> HttpResponse:
    context = {
        **_page(staff),
        "backup": backup,
        "row": backup_row(backup) if backup else None,
        "form": form,
        "problem": problem,
    }
    return render(request, "ops_admin/backup_restore.html", context, status=status)


@require_http_methods(["GET", "POST"])
@staff_view(ADMINS)
def restore(request: HttpRequest, staff: Staff) -> HttpResponse:
    data = request.POST if request.method == "POST" else request.GET
    try:
        backup = live_backup(data.get("backup", "").strip())
    except (BackupError, BotoCoreError) as error:
        return restore_page(
            request,
            staff,
            backup=None,
            form=None,
            problem=problem_text(error),
            status=problem_status(error),
        )
    if backup.status != "AVAILABLE":
        problem = f"Backup {backup.name} is {backup.status}, not AVAILABLE: wait for it."
        return restore_page(request, staff, backup=backup, form=None, problem=problem, status=409)
    if request.method == "GET":
        target = backups.default_restore_target(backup.table)
        form = RestoreForm(initial={"backup": backup.arn, "target": target})
        return restore_page(request, staff, backup=backup, form=form)

    form = RestoreForm(request.POST)
    if form.is_valid():
        check_target(form, backup.table)
    if not form.is_valid():
        return restore_page(request, staff, backup=backup, form=form, status=400)
    target = form.cleaned_data["target"]
    try:
        started = backups.audited_restore_from_backup(backup, target, actor=staff.username)
    except (BackupError, BotoCoreError) as error:
        form.add_error(None, f"The restore did not start. {problem_text(error)}")
        return restore_page(request, staff, backup=backup, form=form, status=problem_status(error))
    messages.success(request, started_text(started, f"from backup {backup.name}"))
    return back_to_list()


def check_target(form: ConfirmedTargetForm, source_table: str) -> None:
    """The target must be a new ``{source}-restored-*`` table (the rule and
    its reason are :func:`backups.check_restore_target`'s)."""
    try:
        backups.check_restore_target(source_table, form.cleaned_data["target"])
    except (BackupError, BotoCoreError) as error:
        form.add_error("target", problem_text(error))


def started_text(started: backups.RestoreStarted, source: str) -> str:
    return (
        f"Restore {source} into {started.target} started: it is {started.status}. On AWS a "
        "restore takes minutes to hours; verify the copy below once it is ACTIVE."
    )


def point_in_time_page(
    request: HttpRequest,
    staff: Staff,
    form: PointInTimeForm | None,
    *,
    window: tuple[datetime, datetime] | None,
    problem: str = "",
    status: int = 200,
) -> HttpResponse:
    context = {
        **_page(staff),
        "form": form,
        "window": (utc_text(window[0]), utc_text(window[1])) if window else None,
        "window_iso": (rfc3339(window[0]), rfc3339(window[1])) if window else None,
        "problem": problem,
    }
    return render(request, "ops_admin/backup_restore_pitr.html", context, status=status)


@require_http_methods(["GET", "POST"])
@staff_view(ADMINS)
def restore_point_in_time(request: HttpRequest, staff: Staff) -> HttpResponse:
    live = settings.DYNAMODB_TABLE
    try:
        window = backups.restorable_window(live)
    except (BackupError, BotoCoreError) as error:
        # Point-in-time recovery off (or unreadable): nothing to restore from.
        status = 200 if request.method == "GET" else 409
        return point_in_time_page(
            request, staff, None, window=None, problem=problem_text(error), status=status
        )
    if request.method == "GET":
        initial = {"at": "latest", "target": backups.default_restore_target(live)}
        return point_in_time_page(request, staff, PointInTimeForm(initial=initial), window=window)

    form = PointInTimeForm(request.POST)
    if form.is_valid():
        when = form.cleaned_data["at"]
        earliest, latest = window
        if when is not None and not earliest <= when <= latest:
            form.add_error(
                "at",
                f"{utc_text(when)} is outside the restorable window, {utc_text(earliest)} to "
                f"{utc_text(latest)}: pick a time inside it, or 'latest'.",
            )
        check_target(form, live)
    if not form.is_valid():
        return point_in_time_page(request, staff, form, window=window, status=400)
    when, target = form.cleaned_data["at"], form.cleaned_data["target"]
    try:
        started = backups.audited_restore_to_point_in_time(live, target, when, actor=staff.username)
    except (BackupError, BotoCoreError) as error:
        form.add_error(None, f"The restore did not start. {problem_text(error)}")
        return point_in_time_page(request, staff, form, window=window, status=problem_status(error))
    point = "the latest restorable time" if when is None else utc_text(when)
    messages.success(request, started_text(started, f"of {live} as it was at {point}"))
    return back_to_list()


# --- Verifying ---------------------------------------------------------------------------------


def verify_page(
    request: HttpRequest,
    staff: Staff,
    *,
    table: str,
    comparison: Comparison | None = None,
    problem: str = "",
    status: int = 200,
) -> HttpResponse:
    context = {
        **_page(staff),
        "table": table,
        "comparison": comparison,
        "digests": [comparison.a, comparison.b] if comparison else [],
        "problem": problem,
    }
    return render(request, "ops_admin/backup_verify.html", context, status=status)


def verifiable(table: str) -> TableInfo:
    """The restored copy, if it can be verified here and now; else why not."""
    live = settings.DYNAMODB_TABLE
    prefix = f"{live}{backups.RESTORED_INFIX}"
    if not table.startswith(prefix) or table == prefix:
        raise BackupError(
            f"{table!r} is not a restored copy of {live}: the console verifies only tables named "
            f"'{prefix}<suffix>' (the only ones the function may read besides the live table)."
        )
    if not backups.is_valid_name(table):
        raise BackupError(f"{table!r} is not a valid table name: use {backups.NAME_RULE}.")
    copy = backups.table_info(table)
    if copy.status != "ACTIVE":
        raise NotNow(
            f"{table} is still {copy.status}: the restore is not finished (on AWS it takes "
            "minutes to hours). Verify it once the Backups page shows it ACTIVE."
        )
    source = backups.table_info(live)
    largest = max(copy.size_bytes or 0, source.size_bytes or 0)
    if largest > VERIFY_MAX_BYTES:
        raise NotNow(
            f"These tables are too large ({size_text(largest)}) to read in full within the "
            f"console's 30 s. Verify from an operator machine: `manage.py backup verify {table}`."
        )
    return copy


@require_POST
@staff_view(ADMINS)
def verify(request: HttpRequest, staff: Staff) -> HttpResponse:
    form = VerifyForm(request.POST)
    if not form.is_valid():
        problem = " ".join(str(message) for message in form.errors.get("table", []))
        return verify_page(request, staff, table="", problem=problem, status=400)
    table = form.cleaned_data["table"]
    try:
        verifiable(table)
    except (BackupError, BotoCoreError) as error:
        return verify_page(
            request, staff, table=table, problem=problem_text(error), status=problem_status(error)
        )
    live = settings.DYNAMODB_TABLE
    try:
        comparison = backups.audited_verify(live, table, actor=staff.username)
    except (BackupError, BotoCoreError) as error:
        return verify_page(
            request, staff, table=table, problem=problem_text(error), status=problem_status(error)
        )
    return verify_page(request, staff, table=table, comparison=comparison)


urlpatterns = [
    path("", index, name="backups"),
    path("/create", create, name="backup_create"),
    path("/restore", restore, name="backup_restore"),
    path("/restore-pitr", restore_point_in_time, name="backup_restore_pitr"),
    path("/verify", verify, name="backup_verify"),
]
