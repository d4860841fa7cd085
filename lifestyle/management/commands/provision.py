import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from lifestyle.checks import aws_error
from lifestyle.provisioning import Finding, check, provision


class Command(BaseCommand):
    help = (
        "Create (or bring up to spec, in place) the DynamoDB table, S3 bucket and Cognito user "
        "pool named in settings: point-in-time recovery, KMS encryption and TTL on the table, "
        "versioning, encryption, public-access block and lifecycle on the bucket, the app "
        "client and staff groups in the pool. Safe to run again, and on a live stage. "
        "--check only reports drift (exit 1 if any) and changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check",
            "--dry-run",
            dest="check",
            action="store_true",
            help="report each setting (ok / DRIFT / MISSING) and change nothing",
        )
        parser.add_argument(
            "--json", action="store_true", help="with --check: one JSON document instead of lines"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["json"] and not options["check"]:
            raise CommandError("--json goes with --check.")
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if options["check"]:
                self.report_drift(as_json=options["json"])
            else:
                self.bring_to_spec()
        except (ClientError, BotoCoreError) as error:
            raise CommandError(aws_error(error)) from None

    # (not check(): BaseCommand.check runs Django's system checks)
    def report_drift(self, *, as_json: bool) -> None:
        findings = check()
        off = [finding for finding in findings if not finding.ok]
        if as_json:
            document = {"ok": not off, "findings": [finding.as_dict() for finding in findings]}
            self.stdout.write(json.dumps(document, indent=2))
        else:
            for finding in findings:
                self.stdout.write(self._styled(finding))
        if off:
            fixable = sum(finding.fix is not None for finding in off)
            raise CommandError(
                f"{len(off)} settings differ from the spec; `manage.py provision` fixes "
                f"{fixable} of them in place."
            )
        if not as_json:
            self.stdout.write(self.style.SUCCESS(f"All {len(findings)} settings are to spec."))

    def bring_to_spec(self) -> None:
        stack = provision(
            report=lambda line: self.stdout.write(f"  {line}"),
            progress=lambda line: self.stderr.write(line),
        )
        if stack.remaining:
            for finding in stack.remaining:
                self.stdout.write(self._styled(finding))
            raise CommandError(
                f"{len(stack.remaining)} settings cannot be brought to spec in place (above)."
            )
        self.stdout.write(self.style.SUCCESS("Provisioned."))
        self.stdout.write(f"COGNITO_USER_POOL_ID={stack.user_pool_id}")
        self.stdout.write(f"COGNITO_APP_CLIENT_ID={stack.app_client_id}")

    def _styled(self, finding: Finding) -> str:
        style = self.style.SUCCESS if finding.ok else self.style.ERROR
        return str(style(finding.line()))
