from typing import Any

from django.core.management.base import CommandError, CommandParser

from lifestyle.checks import CheckCommand, CheckResult
from lifestyle.health import run_health_checks, validate_base_url


class Command(CheckCommand):
    help = (
        "The runbook's quick health check: the table is ACTIVE with point-in-time recovery and "
        "TTL on, the bucket and the user pool answer, and with --base-url the API answers "
        "GET /api/v1/health. One line per check (ok/FAIL, detail, milliseconds); exits "
        "non-zero if any failed. Reads only; runs inside the Lambda too "
        '(zappa manage prod "health_check --json").'
    )
    what = "Health check"

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--base-url", help="the API's root, e.g. https://abc.execute-api.../prod"
        )
        parser.add_argument(
            "--timeout", type=float, default=5.0, help="seconds for the API request (default 5)"
        )

    def results(self, **options: Any) -> list[CheckResult]:
        if not 0 < options["timeout"] <= 60:
            raise CommandError("--timeout must be more than 0 and at most 60 seconds.")
        if options["base_url"] is not None:
            try:
                validate_base_url(options["base_url"])
            except ValueError as error:
                raise CommandError(str(error)) from None
        return run_health_checks(options["base_url"], options["timeout"])
