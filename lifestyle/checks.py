"""Running independent checks and reporting them, for ``health_check`` and
``security_check``.

A check is a function returning a short detail when all is well; it raises
:class:`CheckFailed` or :class:`CheckSkipped` with the reason otherwise. AWS
errors become a failed check carrying AWS's error code, so one unreachable
service never hides the others' results and an operator never reads a
traceback. Each result is timed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from lifestyle.provisioning import Finding

OK, FAIL, SKIP = "ok", "FAIL", "skip"

Check = Callable[[], str]


class CheckFailed(Exception):
    """The check ran and the answer is no: the message says why."""


class CheckSkipped(Exception):
    """The check does not apply where it runs: the message says why."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # OK, FAIL or SKIP
    detail: str
    ms: float

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    def line(self) -> str:
        return f"{self.status:<4}  {self.name:<38} {self.ms:7.1f} ms  {self.detail}"


def require(finding: Finding) -> str:
    """A provisioning finding as a check: its detail when it is to spec."""
    if finding.ok:
        return finding.detail
    raise CheckFailed(f"{finding.status}: {finding.detail}" if finding.detail else finding.status)


def aws_error(error: Exception) -> str:
    """AWS's error code and message for a botocore error (no request data)."""
    from botocore.exceptions import ClientError

    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code") or error.response.get("ResponseMetadata", {}).get(
            "HTTPStatusCode", "?"
        )
        message = details.get("Message") or ""
        return f"AWS error {code}" + (f": {message}" if message and message != code else "")
    return f"{type(error).__name__}: {error}"


def run_check(name: str, check: Check) -> CheckResult:
    from botocore.exceptions import BotoCoreError, ClientError

    started = time.monotonic()
    try:
        status, detail = OK, check()
    except CheckFailed as failure:
        status, detail = FAIL, str(failure)
    except CheckSkipped as skipped:
        status, detail = SKIP, str(skipped)
    except (ClientError, BotoCoreError) as error:
        status, detail = FAIL, aws_error(error)
    return CheckResult(name, status, detail, round((time.monotonic() - started) * 1000, 1))


def run_checks(checks: Iterable[tuple[str, Check]]) -> list[CheckResult]:
    """Every check, each whatever the others gave."""
    return [run_check(name, check) for name, check in checks]


def as_json(results: Sequence[CheckResult]) -> dict[str, Any]:
    return {
        "ok": not any(result.failed for result in results),
        "checks": [asdict(result) for result in results],
    }


class CheckCommand(BaseCommand):
    """A command that runs checks: one line each (or ``--json``), and a
    non-zero exit when any failed."""

    what = "check"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--json", action="store_true", help="print one JSON document instead of lines"
        )

    def results(self, **options: Any) -> list[CheckResult]:
        raise NotImplementedError

    def handle(self, *args: Any, **options: Any) -> None:
        results = self.results(**options)
        failed = [result for result in results if result.failed]
        if options["json"]:
            self.stdout.write(json.dumps(as_json(results), indent=2))
        else:
            for result in results:
                style = {OK: self.style.SUCCESS, FAIL: self.style.ERROR}.get(
                    result.status, self.style.WARNING
                )
                self.stdout.write(style(result.line()))
        if failed:
            raise CommandError(
                f"{self.what} failed: {', '.join(result.name for result in failed)}."
            )
        if not options["json"]:
            skipped = sum(result.status == SKIP for result in results)
            passed = len(results) - skipped
            self.stdout.write(
                self.style.SUCCESS(
                    f"{self.what} passed ({passed} ok"
                    + (f", {skipped} skipped" if skipped else "")
                    + ")."
                )
            )
