"""``manage.py check_consistency``: are the stored totals, period buckets and
streak runs what the activities say? Reports each difference and, with
``--repair``, rewrites the aggregates (never an activity). How a goal is
checked and repaired safely under live traffic: :mod:`activities.consistency`."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from pynamodb.exceptions import PynamoDBException

from activities import consistency
from activities.consistency import CheckProgress, Report
from lifestyle.data_migrations.records import Table, TableNotFound
from lifestyle.data_migrations.runner import DEFAULT_SEGMENTS, MAX_SEGMENTS, dynamodb_client
from lifestyle.management.confirm import confirm

DEFAULT_EVERY = 100


def _user_id(text: str) -> str:
    """A Cognito sub as the partition key holds it; refuse what could
    reach outside one partition or name none."""
    value = text.strip()
    if not value or "#" in value or any(char.isspace() for char in value):
        raise CommandError(f"--user takes a user's sub (a UUID), not {text!r}.")
    return value


class Command(BaseCommand):
    help = (
        "Check that every goal's stored totals, period buckets and streak runs equal what its "
        "activities add up to (all users, or --user SUB); report each difference. --repair "
        "rewrites the aggregates (never an activity), losing to any concurrent write. Exit "
        "status 1 when something was found and not repaired."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", metavar="SUB", help="only this user's goals (their sub)")
        parser.add_argument(
            "--repair", action="store_true", help="rewrite the drifted aggregates (asks first)"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="show what a repair would write; write nothing"
        )
        parser.add_argument(
            "--yes", action="store_true", help="with --repair: do not ask (needed without a TTY)"
        )
        parser.add_argument(
            "--segments",
            type=int,
            help=f"all users: parallel scan segments, one thread each (1-{MAX_SEGMENTS}; "
            f"default {DEFAULT_SEGMENTS})",
        )
        parser.add_argument(
            "--progress-every",
            type=int,
            default=DEFAULT_EVERY,
            metavar="GOALS",
            help=f"a progress line every this many goals (default {DEFAULT_EVERY})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = _user_id(options["user"]) if options["user"] is not None else None
        if user is not None and options["segments"] is not None:
            raise CommandError("--segments splits the scan of all users: leave it out with --user.")
        segments: int = DEFAULT_SEGMENTS if options["segments"] is None else options["segments"]
        every: int = options["progress_every"]
        if not 1 <= segments <= MAX_SEGMENTS:
            raise CommandError(f"--segments must be between 1 and {MAX_SEGMENTS} (got {segments}).")
        if every < 1:
            raise CommandError(f"--progress-every must be at least 1 (got {every}).")
        if options["yes"] and not options["repair"]:
            raise CommandError("--yes goes with --repair.")
        if options["repair"] and options["dry_run"]:
            raise CommandError("--dry-run shows the repair without making it: not with --repair.")

        table = Table(settings.DYNAMODB_TABLE, dynamodb_client(segments))
        try:
            table.key_attributes()
        except TableNotFound as error:
            raise CommandError(f"{error} Check DYNAMODB_TABLE.") from None
        try:
            self._run(table, user, segments, every, options)
        except (BotoCoreError, ClientError, PynamoDBException) as error:
            raise CommandError(
                f"AWS failed past its retries ({type(error).__name__}: {error}). Run again: "
                "what was repaired stays repaired, and the rest is found again."
            ) from error

    def _run(
        self, table: Table, user: str | None, segments: int, every: int, options: dict[str, Any]
    ) -> None:
        report = self._check(table, user, segments, every)
        self._show(report)

        to_repair = report.goals_to_repair()
        if options["dry_run"]:
            self._dry_run(to_repair)
        elif options["repair"] and to_repair:
            confirm(
                f"Rewrite the aggregates of {len(to_repair)} goal(s) in {table.name}?",
                assume_yes=options["yes"],
                stderr=self.stderr,
                stdin=options.get("stdin"),
            )
            to_repair = self._repair(to_repair)
        self._verdict(report, to_repair)

    def _check(self, table: Table, user: str | None, segments: int, every: int) -> Report:
        live = self.stderr.isatty()

        def show(progress: CheckProgress) -> None:
            line = (
                f"{progress.goals:,} goal(s) checked, {progress.goals_with_findings:,} with "
                f"findings ({progress.findings:,} in all), {progress.per_second:,.0f} goals/s, "
                f"{progress.elapsed:.0f} s"
            )
            if live:
                self.stderr.write(f"\r{line}\x1b[K", ending="", style_func=str)
                self.stderr.flush()
            else:
                self.stderr.write(line, style_func=str)

        if user is None:
            self.stdout.write(f"Checking every goal in {table.name} ({segments} segments):")
        else:
            self.stdout.write(f"Checking the goals of user {user} in {table.name}:")
        try:
            if user is None:
                return consistency.check_table(
                    segments=segments, table=table, on_progress=show, every=every
                )
            return consistency.check_user(user, table=table, on_progress=show, every=every)
        finally:
            if live:
                self.stderr.write("")

    def _show(self, report: Report) -> None:
        for finding in report.findings:
            self.stdout.write(finding.line())
        for user_id, goal_id in report.busy:
            self.stdout.write(
                f"busy         user {user_id} goal {goal_id}: kept changing while read; run again"
            )
        repairable = sum(finding.repairable for finding in report.findings)
        self.stdout.write(
            f"Checked {report.goals:,} goal(s): {len(report.findings):,} finding(s) on "
            f"{report.goals_with_findings:,} goal(s), {repairable:,} repairable."
        )

    def _dry_run(self, to_repair: list[tuple[str, str]]) -> None:
        if not to_repair:
            self.stdout.write("Dry run: nothing to repair.")
            return
        self.stdout.write("Dry run: nothing was written. A repair would write:")
        for user_id, goal_id in to_repair:
            try:
                found = consistency.snapshot(user_id, goal_id)
            except consistency.GoalBusy:
                found = None
            lines = found.planned_writes() if found is not None else []
            self.stdout.write(f"  user {user_id} goal {goal_id}:")
            for line in lines or ["(nothing now: it changed since the check)"]:
                self.stdout.write(f"    {line}")

    def _repair(self, to_repair: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Repair each goal; the ones left unrepaired."""
        left = []
        for user_id, goal_id in to_repair:
            result = consistency.repair_goal(user_id, goal_id)
            tries = f" after {result.attempts} attempts" if result.attempts > 1 else ""
            self.stdout.write(
                f"user {user_id} goal {goal_id}: {result.outcome}{tries}"
                + (f" ({len(result.fixed)} finding(s) fixed)" if result.fixed else "")
            )
            if result.outcome == consistency.BUSY:
                left.append((user_id, goal_id))
        return left

    def _verdict(self, report: Report, unrepaired: list[tuple[str, str]]) -> None:
        report_only = [finding for finding in report.findings if not finding.repairable]
        problems = []
        if unrepaired:
            problems.append(
                f"{len(unrepaired)} goal(s) with drift not repaired (--dry-run shows the repair, "
                "--repair makes it)"
            )
        if report_only:
            problems.append(
                f"{len(report_only)} finding(s) no repair can fix (misplaced activities, "
                "missing goals): see the runbook"
            )
        if report.busy:
            problems.append(f"{len(report.busy)} goal(s) too busy to check: run again")
        if problems:
            raise CommandError("; ".join(problems) + ".")
        self.stdout.write(self.style.SUCCESS("Consistent."))
