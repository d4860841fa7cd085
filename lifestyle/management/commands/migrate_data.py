"""``manage.py migrate_data``: apply the data migrations of
``lifestyle/data_migrations`` to the DynamoDB table (see that package for how
to write one, and its runner for how a run is made safe and resumable)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from lifestyle.data_migrations import DataMigration, RegistryError, discover, parse_number
from lifestyle.data_migrations.records import MigrationRecord, RecordStore, Table, TableNotFound
from lifestyle.data_migrations.runner import (
    ALREADY_APPLIED,
    DEFAULT_SEGMENTS,
    DRY_RUN,
    MAX_SEGMENTS,
    PAUSED,
    PlanError,
    Progress,
    dynamodb_client,
    plan,
    run_migration,
    status,
)
from lifestyle.management.confirm import confirm


class Command(BaseCommand):
    help = (
        "Apply pending data migrations to the DynamoDB table, in order (or only the one "
        "numbered). Resumable: an interrupted run continues where it stopped; an applied "
        "migration is never run again."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("number", nargs="?", help="only this migration, e.g. 0002")
        parser.add_argument(
            "--list", action="store_true", help="show every migration and its state; change nothing"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would change; write nothing"
        )
        parser.add_argument(
            "--yes", action="store_true", help="do not ask for confirmation (needed without a TTY)"
        )
        parser.add_argument(
            "--segments",
            type=int,
            default=DEFAULT_SEGMENTS,
            help=f"parallel scan segments, one thread each (1-{MAX_SEGMENTS}; "
            f"default {DEFAULT_SEGMENTS}; a resumed run keeps its own)",
        )
        parser.add_argument(
            "--rate", type=float, help="at most this many items a second (default: no limit)"
        )
        parser.add_argument(
            "--max-seconds",
            type=float,
            help="stop cleanly after this long, to resume later (e.g. 25 inside Lambda's 30 s)",
        )
        parser.add_argument("--table", help="default: settings.DYNAMODB_TABLE")

    def handle(self, *args: Any, **options: Any) -> None:
        table_name: str = options["table"] or settings.DYNAMODB_TABLE
        segments: int = options["segments"]
        if not 1 <= segments <= MAX_SEGMENTS:
            raise CommandError(f"--segments must be between 1 and {MAX_SEGMENTS} (got {segments}).")
        if options["rate"] is not None and not options["rate"] > 0:
            raise CommandError(
                f"--rate must be more than 0 items a second (got {options['rate']})."
            )
        if options["max_seconds"] is not None and not options["max_seconds"] > 0:
            raise CommandError(f"--max-seconds must be more than 0 (got {options['max_seconds']}).")
        target = None
        if options["number"] is not None:
            if options["list"]:
                raise CommandError("--list shows every migration: give no number with it.")
            try:
                target = parse_number(options["number"])
            except ValueError as error:
                raise CommandError(str(error)) from None
        try:
            migrations = discover()
        except RegistryError as error:
            raise CommandError(f"The data migrations are inconsistent: {error}") from None

        dynamodb = dynamodb_client(segments)
        table = Table(table_name, dynamodb)
        try:
            table.key_attributes()
        except TableNotFound as error:
            raise CommandError(f"{error} Check --table or DYNAMODB_TABLE.") from None
        records = RecordStore(table).load_all()

        if options["list"]:
            self._list(table_name, migrations, records)
            return
        try:
            todo = plan(migrations, records, target)
        except PlanError as error:
            raise CommandError(str(error)) from None
        if not todo:
            if target is not None:
                record = records[target]
                self.stdout.write(
                    f"{record.number:04d} is already applied to {table_name} "
                    f"({record.finished_at}): nothing to do."
                )
            else:
                self.stdout.write(f"No pending data migrations for {table_name}.")
            return

        dry_run = options["dry_run"]
        self.stdout.write(f"{'Dry run on' if dry_run else 'Migrating'} table {table_name}:")
        for migration in todo:
            self.stdout.write(f"  {migration}{self._resume_note(records.get(migration.number))}")
        if not dry_run:
            confirm(
                f"Apply {len(todo)} data migration(s) to {table_name}?",
                assume_yes=options["yes"],
                stderr=self.stderr,
                stdin=options.get("stdin"),
            )
        for migration in todo:
            if not self._run(migration, table_name, dynamodb, options):
                break

    def _list(
        self, table: str, migrations: list[DataMigration], records: dict[int, MigrationRecord]
    ) -> None:
        self.stdout.write(f"Data migrations on table {table}:")
        if not migrations:
            self.stdout.write("  (none)")
        for migration in migrations:
            self.stdout.write(f"  {migration.label}  {migration.description}")
            self.stdout.write(f"        {status(records.get(migration.number))}")

    @staticmethod
    def _resume_note(record: MigrationRecord | None) -> str:
        if record is None:
            return ""
        return (
            f"\n      resuming the run started {record.started_at} "
            f"({record.segments_done}/{record.total_segments} segments done, "
            f"{record.scanned:,} items scanned; it keeps its {record.total_segments} segments)"
        )

    def _run(
        self, migration: DataMigration, table: str, dynamodb: Any, options: dict[str, Any]
    ) -> bool:
        """Run one migration and report it; False if the next one must wait."""
        live = self.stderr.isatty()

        def show(progress: Progress) -> None:
            line = _progress_line(progress, dry_run=options["dry_run"])
            if live:
                self.stderr.write(f"\r{line}\x1b[K", ending="", style_func=str)
                self.stderr.flush()
            else:
                self.stderr.write(line, style_func=str)

        try:
            result = run_migration(
                migration,
                table=table,
                segments=options["segments"],
                dry_run=options["dry_run"],
                rate=options["rate"],
                max_seconds=options["max_seconds"],
                dynamodb=dynamodb,
                on_progress=show,
                progress_every=1.0 if live else 10.0,
            )
        except KeyboardInterrupt:
            raise CommandError(
                f"{migration.label} interrupted; progress is saved: run migrate_data again "
                "to resume."
            ) from None
        except Exception as error:
            raise CommandError(
                f"{migration.label} stopped: {error} Progress up to the last checkpoint is "
                "saved: run migrate_data again to resume."
            ) from error
        finally:
            if live:
                self.stderr.write("")
        progress = result.progress
        counts = (
            f"{progress.scanned:,} items scanned, {progress.changed:,} "
            f"{'would change' if result.outcome == DRY_RUN else 'changed'}"
        )
        if result.outcome == DRY_RUN:
            self.stdout.write(f"{migration.label} dry run: {counts}; nothing was written.")
        elif result.outcome == ALREADY_APPLIED:
            self.stdout.write(f"{migration.label} was already applied: {counts}.")
        elif result.outcome == PAUSED:
            self.stdout.write(
                f"{migration.label} paused after {progress.elapsed:.0f} s "
                f"({progress.segments_done}/{progress.total_segments} segments done, {counts}): "
                "run migrate_data again to go on."
            )
            return False
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"{migration.label} applied{' (resumed)' if result.resumed else ''}: {counts}, "
                    f"{progress.conflicts} retried after a concurrent change, "
                    f"{progress.throttled} throttled call(s) retried; "
                    f"{progress.elapsed:.1f} s, {progress.per_second:,.0f} items/s."
                )
            )
        return True


def _progress_line(progress: Progress, *, dry_run: bool) -> str:
    return (
        f"{progress.migration.label}: {progress.scanned:,} scanned, {progress.changed:,} "
        f"{'would change' if dry_run else 'changed'}, "
        f"{progress.conflicts} conflicts, {progress.throttled} throttled, "
        f"{progress.segments_done}/{progress.total_segments} segments done, "
        f"{progress.per_second:,.0f} items/s, {progress.elapsed:.0f} s"
    )
