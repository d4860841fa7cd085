"""``manage.py restore_drill``: prove backups can be restored, end to end,
without touching the live table (see :func:`ops_admin.backups.restore_drill`)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ops_admin import backups


class Command(BaseCommand):
    help = (
        "Restore drill: create a scratch table shaped like the live one ('{table}-drill-*'), "
        "write marker items, back it up, restore the backup to a new table, check the copy is "
        "item-for-item equal, then delete the scratch tables and the backup. Reports each step's "
        "time; exits non-zero if any step fails. The live table's data is never read or written. "
        "On AWS a restore takes minutes: run it with operator credentials, not `zappa manage`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--table",
            help=f"name the scratch tables after this table (default: {settings.DYNAMODB_TABLE})",
        )
        parser.add_argument(
            "--items", type=int, default=5, help="marker items to write (1-100, default 5)"
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=backups.DEFAULT_TIMEOUT_SECONDS,
            help="seconds to wait for each table or backup (default: two hours)",
        )
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument(
            "--dry-run", action="store_true", help="say what the drill would do; do nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        table = options["table"] or settings.DYNAMODB_TABLE
        if not 1 <= options["items"] <= 100:
            raise CommandError(f"--items must be 1-100, not {options['items']}.")
        if options["timeout"] <= 0:
            raise CommandError(f"--timeout must be positive, not {options['timeout']}.")
        if options["dry_run"]:
            try:
                scratch, restored = backups.drill_names(table)
            except backups.BackupError as error:
                raise CommandError(error.message) from None
            self.stdout.write(
                f"Would create {scratch}, write {options['items']} marker items, back it up, "
                f"restore the backup to {restored}, compare the two, then delete both tables "
                f"and the backup. {table} itself is not touched. Dry run: nothing done."
            )
            return
        try:
            report = backups.restore_drill(
                table,
                lambda line: self.stderr.write(f"  {line}", style_func=str),
                items=options["items"],
                timeout=options["timeout"],
            )
        except backups.BackupError as error:  # before any step ran (e.g. the name)
            raise CommandError(error.message) from None
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            self.stdout.write(f"Restore drill for {table} (scratch table {report.scratch_table})")
            width = max(len(step.name) for step in report.steps)
            for step in report.steps:
                self.stdout.write(f"  {step.name:<{width}}  {step.seconds:7.2f} s  {step.detail}")
        if report.passed:
            if not options["json"]:
                self.stdout.write(self.style.SUCCESS(f"PASS in {report.seconds:.2f} s"))
            return
        problems = [report.error] if report.error else []
        raise CommandError(
            f"FAIL after {report.seconds:.2f} s: " + "; ".join(problems + report.cleanup_errors)
        )
