"""``manage.py backup``: the runbook's "Database Rollback" (on-demand
backups, restores from them, point-in-time restores) and a check that two
tables hold the same items. The logic lives in :mod:`ops_admin.backups`.

``create``, ``restore`` and ``restore-pitr`` write the staff audit log's
entry the console writes for the same action (not on ``--dry-run``), naming
``--actor``, by default ``cli:<OS user>``. Inside Lambda there is no OS user
to name, so there ``--actor`` is required, as for ``disable_user``."""

from __future__ import annotations

import json
import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from lifestyle.management.confirm import confirm
from lifestyle.timeutil import rfc3339
from ops_admin import backups
from ops_admin.backups import BackupError, Comparison, TableDigest
from ops_admin.management.user_access import os_user

LAMBDA_NOTE = (
    "A restore takes minutes on AWS, longer than the Lambda's 30 s, so under `zappa manage` "
    "restores never wait: run `backup verify` once the new table is ACTIVE."
)


class Command(BaseCommand):
    help = (
        "DynamoDB backups of the product's table: create, list, restore (from a backup or to a "
        "point in time, always into a new '{table}-restored-*' table, never over the live one) "
        "and verify (item counts and an order-independent checksum). " + LAMBDA_NOTE
    )

    def add_arguments(self, parser: CommandParser) -> None:
        subcommands = parser.add_subparsers(
            dest="subcommand", metavar="{create,list,restore,restore-pitr,verify}"
        )
        subcommands.required = True
        cli = {"called_from_command_line": getattr(parser, "called_from_command_line", None)}

        create = subcommands.add_parser("create", help="take an on-demand backup", **cli)
        create.add_argument(
            "--name", help="backup name (3-255 of A-Z a-z 0-9 _ - .); default manual-<UTC time>"
        )
        self._actor_option(create)
        self._common(create, json_output=True, dry_run=True)

        listing = subcommands.add_parser("list", help="the table's backups, newest first", **cli)
        self._common(listing, json_output=True)

        restore = subcommands.add_parser("restore", help="restore a backup into a new table", **cli)
        restore.add_argument("backup", help="the backup's ARN or name (see `backup list`)")
        self._restore_options(restore)

        pitr = subcommands.add_parser(
            "restore-pitr", help="restore the table as it was at a time, into a new table", **cli
        )
        pitr.add_argument(
            "--at",
            required=True,
            help="'latest' or an RFC 3339 time with an offset, e.g. 2026-01-05T10:00:00Z",
        )
        pitr.add_argument(
            "--no-verify",
            action="store_true",
            help="with --at latest: skip comparing the copy with the live table "
            "(a full read of both)",
        )
        self._restore_options(pitr)

        verify = subcommands.add_parser(
            "verify", help="compare the table with another (e.g. a restored copy)", **cli
        )
        verify.add_argument("other", help="the table to compare --table with")
        self._common(verify, json_output=True)

    @staticmethod
    def _common(parser: CommandParser, *, json_output: bool = False, dry_run: bool = False) -> None:
        parser.add_argument(
            "--table",
            default=None,
            help=f"the live table (default: settings.DYNAMODB_TABLE, {settings.DYNAMODB_TABLE})",
        )
        if json_output:
            parser.add_argument("--json", action="store_true", help="print JSON")
        if dry_run:
            parser.add_argument(
                "--dry-run", action="store_true", help="say what would happen; change nothing"
            )

    @staticmethod
    def _actor_option(parser: CommandParser) -> None:
        parser.add_argument(
            "--actor",
            help="who is doing this, for the audit log (default: cli:<your OS user>; "
            "required under `zappa manage`)",
        )

    def _restore_options(self, parser: CommandParser) -> None:
        self._actor_option(parser)
        parser.add_argument(
            "--target", help="new table's name: '<table>-restored-<suffix>' (default: UTC time)"
        )
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        parser.add_argument(
            "--no-wait",
            action="store_true",
            help="start the restore and return (always so inside Lambda)",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=backups.DEFAULT_TIMEOUT_SECONDS,
            help="seconds to wait for the new table (default: two hours)",
        )
        self._common(parser, dry_run=True)

    # --- handlers -----------------------------------------------------------------

    def handle(self, *args: Any, **options: Any) -> None:
        options["table"] = options.get("table") or settings.DYNAMODB_TABLE
        if options.get("timeout", 1) <= 0:
            raise CommandError(f"--timeout must be positive, not {options['timeout']}.")
        handler = getattr(self, "_" + options["subcommand"].replace("-", "_"))
        try:
            handler(options)
        except BackupError as error:
            raise CommandError(error.message) from None

    def _progress(self, line: str) -> None:
        self.stderr.write(f"  {line}", style_func=str)

    @staticmethod
    def _actor(options: dict[str, Any]) -> str:
        """Who the audit log names: ``--actor``, else ``cli:<OS user>``.
        Asked for before anything is done, so a refusal leaves nothing
        unrecorded; a dry run records nothing and needs no actor."""
        if options["actor"] is not None:
            return backups.check_actor(options["actor"])
        user = os_user()
        if user is None:
            if options["dry_run"]:
                return ""
            raise CommandError("No OS user name to record as the actor: pass --actor NAME.")
        return f"cli:{user}"

    def _create(self, options: dict[str, Any]) -> None:
        table = options["table"]
        actor = self._actor(options)
        name = backups.validate_backup_name(options["name"] or backups.default_backup_name())
        if options["dry_run"]:
            backups.table_status(table)  # the table must exist
            self.stdout.write(f"Would back up table {table} as {name!r}. Dry run: nothing done.")
            return
        backup = backups.audited_create_backup(table, name, actor=actor)
        if options["json"]:
            self.stdout.write(json.dumps(backup.as_dict(), indent=2))
            return
        self.stdout.write(self.style.SUCCESS(f"Backup {backup.name} of {table}: {backup.status}"))
        self.stdout.write(f"  arn: {backup.arn}")

    def _list(self, options: dict[str, Any]) -> None:
        found = backups.list_backups(options["table"])
        if options["json"]:
            self.stdout.write(json.dumps([backup.as_dict() for backup in found], indent=2))
            return
        if not found:
            self.stdout.write(f"Table {options['table']} has no backups.")
            return
        self.stdout.write(f"{len(found)} backups of {options['table']}, newest first:")
        for backup in found:
            size = "" if backup.size_bytes is None else f"  {backup.size_bytes} bytes"
            self.stdout.write(
                f"  {rfc3339(backup.created_at)}  {backup.name}  {backup.status}  "
                f"{backup.type}{size}\n    {backup.arn}"
            )

    def _restore(self, options: dict[str, Any]) -> None:
        table = options["table"]
        actor = self._actor(options)
        backup = backups.find_backup(table, options["backup"])
        _, target = backups.check_backup_restore(backup.arn, options["target"])
        estimate = "" if backup.item_count is None else f", about {backup.item_count} items"
        plan = (
            f"Restore backup {backup.name} of {table} (taken {rfc3339(backup.created_at)}"
            f"{estimate}) into the new table {target}."
        )
        if self._planned(plan, options):
            return
        started = backups.audited_restore_from_backup(backup, target, actor=actor)
        if self._waited(started, options):
            restored = backups.digest_table(started.target, self._progress)
            self.stdout.write(self.style.SUCCESS(f"Restored {started.target}: ACTIVE."))
            self._digest_line(restored)
            if backup.item_count is not None:
                self.stdout.write(
                    f"  The backup recorded about {backup.item_count} items "
                    "(DynamoDB's estimate, refreshed about every six hours)."
                )

    def _restore_pitr(self, options: dict[str, Any]) -> None:
        table = options["table"]
        actor = self._actor(options)
        when = backups.parse_restore_time(options["at"])
        target = backups.check_point_in_time_restore(table, options["target"], when)
        point = "the latest restorable time" if when is None else rfc3339(when)
        if self._planned(
            f"Restore {table} as it was at {point} into the new table {target}.", options
        ):
            return
        started = backups.audited_restore_to_point_in_time(table, target, when, actor=actor)
        if not self._waited(started, options):
            return
        self.stdout.write(self.style.SUCCESS(f"Restored {started.target}: ACTIVE."))
        if when is not None or options["no_verify"]:
            self._digest_line(backups.digest_table(started.target, self._progress))
            return
        comparison = backups.verify(table, started.target, self._progress)
        self._comparison(comparison)
        if not comparison.equal:
            raise CommandError(
                f"{started.target} is ACTIVE but differs from {table}. Writes to {table} since "
                "the restore point explain that; if it took none, investigate before using it."
            )

    def _verify(self, options: dict[str, Any]) -> None:
        comparison = backups.verify(options["table"], options["other"], self._progress)
        if options["json"]:
            self.stdout.write(json.dumps(comparison.as_dict(), indent=2))
        else:
            self._comparison(comparison)
        if not comparison.equal:
            raise CommandError(f"{options['table']} and {options['other']} differ.")

    # --- shared steps ---------------------------------------------------------------

    def _planned(self, plan: str, options: dict[str, Any]) -> bool:
        """Show the plan; True when that is all we do (a dry run)."""
        self.stdout.write(plan)
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing done.")
            return True
        confirm("Go ahead?", assume_yes=options["yes"], stderr=self.stderr)
        return False

    def _waited(self, started: backups.RestoreStarted, options: dict[str, Any]) -> bool:
        """Wait for the new table unless --no-wait; True once it is ACTIVE.

        Inside Lambda (``zappa manage``) we never wait: the function is
        stopped after 30 s, long before a real restore ends, and the operator
        would lose this output with it."""
        in_lambda = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
        if options["no_wait"] or in_lambda:
            if in_lambda and not options["no_wait"]:
                self.stdout.write("Running inside Lambda: not waiting (the function has 30 s).")
            self.stdout.write(
                f"Restore started: {started.target} is {started.status}. Once it is ACTIVE, "
                f"check it with `manage.py backup verify {started.target} --table "
                f"{started.source_table}`."
            )
            return False
        backups.wait_until_active(started.target, self._progress, timeout=options["timeout"])
        return True

    def _digest_line(self, digest: TableDigest) -> None:
        skipped = (
            f" ({digest.skipped} staff audit-log/sign-in items not compared)"
            if digest.skipped
            else ""
        )
        self.stdout.write(
            f"  {digest.table}: {digest.items} items, checksum {digest.checksum}{skipped}"
        )

    def _comparison(self, comparison: Comparison) -> None:
        for digest in (comparison.a, comparison.b):
            self._digest_line(digest)
        if comparison.equal:
            self.stdout.write(self.style.SUCCESS(f"Equal: the same {comparison.a.items} items."))
        else:
            self.stdout.write(
                self.style.ERROR(
                    f"Different: {comparison.a.items} and {comparison.b.items} items, "
                    "checksums "
                    + ("equal." if comparison.a.checksum == comparison.b.checksum else "differ.")
                )
            )
