"""``manage.py account_deletions``: the pending account deletions, and
finishing them by hand (the schedule does it every 15 minutes; see
:mod:`accounts.deletion`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import deletion
from accounts.deletion import DeletionState, Outcome
from lifestyle.management.confirm import confirm


def _at(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _steps(steps: tuple[str, ...]) -> str:
    return ", ".join(steps) or "none"


def _holder(state: DeletionState) -> str | None:
    if state.held and state.lease_until is not None:
        return f"a run is working on it (its lease ends {_at(state.lease_until)})"
    return None


def _waiting(state: DeletionState) -> str | None:
    if state.waiting and state.settles_at is not None:
        return f"erased; the last check for late writes waits until {_at(state.settles_at)}"
    return None


class Command(BaseCommand):
    help = (
        "List pending account deletions (users who sent DELETE /api/v1/me and whose deletion "
        "has not finished), or with --resume finish them: the same work the schedule does "
        "every 15 minutes. Safe to run at any time, alongside the schedule."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--resume", action="store_true", help="finish the pending deletions (asks first)"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="with --resume: show the plan, change nothing"
        )
        parser.add_argument(
            "--yes", action="store_true", help="with --resume: do not ask (needed without a TTY)"
        )
        parser.add_argument(
            "--max-seconds",
            type=float,
            help="with --resume: stop after this long, to go on next run (25 inside Lambda)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        resume = options["resume"]
        for name in ("dry_run", "yes", "max_seconds"):
            if options[name] not in (None, False) and not resume:
                raise CommandError(f"--{name.replace('_', '-')} goes with --resume.")
        max_seconds = options["max_seconds"]
        if max_seconds is not None and not max_seconds > 0:
            raise CommandError(f"--max-seconds must be more than 0 (got {max_seconds}).")

        pending = deletion.pending_deletions()
        self._list(pending)
        if not resume or not pending:
            return
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing was changed. --resume would:")
            for state in pending:
                self.stdout.write(f"  {state.user_id}: {self._plan(state)}")
            return
        confirm(
            f"Resume {len(pending)} account deletion(s)? Their data is erased for good.",
            assume_yes=options["yes"],
            stderr=self.stderr,
            stdin=options.get("stdin"),
        )
        self.stdout.write(f"Resuming {len(pending)} account deletion(s):")
        outcomes = deletion.resume_pending(max_seconds=max_seconds, on_outcome=self._show)
        finished = sum(outcome.result == deletion.FINISHED for outcome in outcomes)
        failed = sum(outcome.result == deletion.FAILED for outcome in outcomes)
        left = (
            len(outcomes)
            - finished
            - sum(outcome.result == deletion.ALREADY_DONE for outcome in outcomes)
        )
        self.stdout.write(
            f"Finished {finished} of {len(pending)}; {left} still pending "
            "(the schedule goes on every 15 minutes)."
        )
        if failed:
            raise CommandError(
                f"{failed} deletion(s) failed (see above); nothing of theirs is lost or "
                "half-kept: rerun, or let the schedule retry."
            )

    def _list(self, pending: list[DeletionState]) -> None:
        if not pending:
            self.stdout.write("No pending account deletions.")
            return
        self.stdout.write(f"Pending account deletions: {len(pending)}")
        for state in pending:
            attempts = f"{state.attempts} attempt{'s' if state.attempts != 1 else ''}"
            self.stdout.write(
                f"  {state.user_id}  requested {state.requested_at:%Y-%m-%dT%H:%M:%SZ}, {attempts}"
            )
            self.stdout.write(
                f"      done: {_steps(state.steps_done)}; left: {_steps(state.steps_left)}"
            )
            last_error = state.last_error and f"last error: {state.last_error}"
            for note in (last_error, _holder(state), _waiting(state)):
                if note:
                    self.stdout.write(f"      {note}")

    @staticmethod
    def _plan(state: DeletionState) -> str:
        return _holder(state) or _waiting(state) or f"run {_steps(state.steps_left)}"

    def _show(self, outcome: Outcome) -> None:
        state = outcome.state
        text = {
            deletion.FINISHED: (
                f"deleted ({state.files_deleted} file versions, {state.items_deleted} items)"
            ),
            deletion.ALREADY_DONE: "already deleted",
            deletion.WAITING: _waiting(state) or "waiting for late writes",
            deletion.HELD: _holder(state) or "another run is working on it",
            deletion.OUT_OF_TIME: f"out of time; left: {_steps(state.steps_left)}",
            deletion.FAILED: f"failed: {state.last_error}; left: {_steps(state.steps_left)}",
        }[outcome.result]
        line = f"  {state.user_id}: {text}"
        if outcome.result == deletion.FINISHED:
            line = self.style.SUCCESS(line)
        elif outcome.result == deletion.FAILED:
            line = self.style.ERROR(line)
        self.stdout.write(line)
