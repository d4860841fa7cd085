import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from lifestyle.iam_policy import ROOT, PolicyError, render_policy, target_for_stage


class Command(BaseCommand):
    help = (
        "Render deploy/lambda-policy.template.json for one stage and AWS account into the "
        "policy file zappa_settings.json attaches to the Lambda role (attach_policy). "
        "Names come from zappa_settings.json; nothing is sent to AWS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--stage", required=True, help="a stage of zappa_settings.json")
        parser.add_argument("--account-id", required=True, help="the 12-digit AWS account id")
        parser.add_argument(
            "--user-pool-id", required=True, help="the stage's Cognito user pool id"
        )
        parser.add_argument("--region", help="defaults to the stage's aws_region")
        parser.add_argument(
            "--output",
            help="defaults to deploy/lambda-policy.<stage>.json; '-' prints it instead",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stage = options["stage"]
        try:
            target = target_for_stage(
                stage,
                account_id=options["account_id"],
                user_pool_id=options["user_pool_id"],
                region=options["region"],
            )
            policy = render_policy(target)
        except (PolicyError, OSError) as error:
            raise CommandError(str(error)) from None
        text = json.dumps(policy, indent=4) + "\n"
        if options["output"] == "-":
            self.stdout.write(text, ending="")
            return
        output = Path(options["output"] or ROOT / "deploy" / f"lambda-policy.{stage}.json")
        output.write_text(text)
        self.stdout.write(
            f"Wrote {output} ({len(policy['Statement'])} statements) for function "
            f"{target.function_name}, table {target.table}, bucket {target.bucket}, "
            f"user pool {target.user_pool_id}, secret {target.secret_name}."
        )
