from typing import Any

from django.core.management.base import CommandError, CommandParser

from lifestyle.checks import CheckCommand, CheckResult
from lifestyle.security import run_security_checks, zappa_stages


class Command(CheckCommand):
    help = (
        "The runbook's security checklist, automated: table encryption and point-in-time "
        "recovery; bucket versioning, encryption and public-access block; the running "
        "settings (DEBUG off, a real secret key, secrets from Secrets Manager); and per "
        "zappa_settings.json stage, the settings Zappa would run, secrets kept out of the "
        "file and the IAM policy template scoped to our resources. One line per check "
        "(ok/FAIL/skip, reason); exits non-zero if any failed. Reads only."
    )
    what = "Security check"

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--deployment",
            action="store_true",
            help=(
                "judge the running settings as a deployment's: DEBUG on, a development key "
                "or no LIFESTYLE_SECRET_ID fail instead of being skipped as local. Implied "
                "inside a Lambda (zappa manage prod security_check)."
            ),
        )
        parser.add_argument(
            "--stage",
            action="append",
            dest="stages",
            metavar="STAGE",
            help="check only this zappa_settings.json stage (repeatable; default: all)",
        )

    def results(self, **options: Any) -> list[CheckResult]:
        stages = options["stages"]
        if stages:
            known = zappa_stages()
            unknown = [stage for stage in stages if stage not in known]
            if unknown:
                raise CommandError(
                    f"No stage {', '.join(map(repr, unknown))} in zappa_settings.json "
                    f"(have: {', '.join(known) or 'none'})."
                )
        # Without the flag: judged as deployed only inside a Lambda.
        return run_security_checks(deployment=options["deployment"] or None, stages=stages)
