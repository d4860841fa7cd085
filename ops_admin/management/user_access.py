"""What ``manage.py disable_user`` and ``enable_user`` share: find the user,
show the plan, confirm, act, say what was done. The work itself is
:func:`ops_admin.users.disable_user` / :func:`~ops_admin.users.enable_user`,
which the staff console calls too."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from lifestyle.errors import ApplicationError
from lifestyle.management.confirm import confirm
from ops_admin.users import UserActionResult

Action = Callable[..., UserActionResult]


def os_user() -> str | None:
    """Who is at the keyboard, as the OS knows them. None inside Lambda
    (``zappa manage``), whose process runs as a sandbox user that names
    nobody, and where no login name or passwd entry exists."""
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return None
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def error_text(error: ApplicationError) -> str:
    details = [
        f"{name}: {' '.join(map(str, problems))}" for name, problems in (error.fields or {}).items()
    ]
    return " ".join([error.message, *details])


class UserAccessCommand(BaseCommand):
    verb = ""  # "disable" or "enable"
    done = ""  # "disabled" or "enabled"

    def action(self) -> Action:
        raise NotImplementedError

    def unchanged(self, result: UserActionResult) -> str:
        """Why there is nothing to do, e.g. "is already disabled"."""
        raise NotImplementedError

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("user", help="the user's username, email address or sub")
        parser.add_argument(
            "--reason", required=True, help="why (recorded with the change; required)"
        )
        parser.add_argument(
            "--actor",
            help="who is doing this, recorded with the change (default: your OS user name; "
            "required under `zappa manage`)",
        )
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        parser.add_argument(
            "--dry-run", action="store_true", help="find the user and show the plan; change nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = options["actor"] or os_user()
        if not actor:
            raise CommandError("No OS user name to record as the actor: pass --actor NAME.")
        note = {"actor": actor, "reason": options["reason"]}
        if not options["yes"] or options["dry_run"]:
            # Show the plan first: it is what the operator says yes to.
            plan = self._run(options["user"], dry_run=True, **note)
            if not plan.changed:
                self.stdout.write(f"{plan.user.describe()} {self.unchanged(plan)}: nothing to do.")
                return
            self._report(f"Would {self.verb} {plan.user.describe()}:", plan)
            if options["dry_run"]:
                self.stdout.write("Dry run: nothing was changed.")
                return
            question = f"{self.verb.capitalize()} {plan.user.describe()}?"
            confirm(question, assume_yes=False, stderr=self.stderr)
        result = self._run(options["user"], dry_run=False, **note)
        if not result.changed:
            self.stdout.write(f"{result.user.describe()} {self.unchanged(result)}: nothing to do.")
            return
        done = f"{self.done.capitalize()} {result.user.describe()}:"
        self._report(self.style.SUCCESS(done), result)
        self.stdout.write(f"Recorded as {self.done} by {actor}, with the reason given.")

    def _report(self, heading: str, result: UserActionResult) -> None:
        self.stdout.write(heading)
        for step in result.steps:
            self.stdout.write(f"  - {step}")

    def _run(self, user: str, **options: Any) -> UserActionResult:
        from botocore.exceptions import BotoCoreError, ClientError
        from pynamodb.exceptions import PynamoDBException

        try:
            return self.action()(user, **options)
        except ApplicationError as error:
            raise CommandError(error_text(error)) from None
        except (BotoCoreError, ClientError, PynamoDBException) as error:
            raise CommandError(f"AWS could not be reached or refused: {error}") from None
