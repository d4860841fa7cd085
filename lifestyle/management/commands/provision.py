from typing import Any

from django.core.management.base import BaseCommand

from lifestyle.provisioning import provision


class Command(BaseCommand):
    help = (
        "Create (or bring up to spec) the DynamoDB table, S3 bucket and Cognito user pool "
        "named in settings. Safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        stack = provision(report=lambda line: self.stdout.write(f"  {line}"))
        self.stdout.write(self.style.SUCCESS("Provisioned."))
        self.stdout.write(f"COGNITO_USER_POOL_ID={stack.user_pool_id}")
        self.stdout.write(f"COGNITO_APP_CLIENT_ID={stack.app_client_id}")
