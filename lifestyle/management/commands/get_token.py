import getpass
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from lifestyle.provisioning import sign_in


class Command(BaseCommand):
    help = (
        "Sign in to Cognito as a user (USER_PASSWORD_AUTH, as the mobile app does) and print "
        "a token for the API's Authorization header. Prompts for the password if not given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", help="omit to be prompted")
        parser.add_argument(
            "--id-token", action="store_true", help="print the ID token instead of the access token"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.COGNITO_APP_CLIENT_ID:
            raise CommandError("COGNITO_APP_CLIENT_ID is not set (is 'make run' running?).")
        password = options["password"] or getpass.getpass("Password: ")
        from botocore.exceptions import ClientError

        try:
            tokens = sign_in(settings.COGNITO_APP_CLIENT_ID, options["username"], password)
        except ClientError as error:
            raise CommandError(f"Sign-in failed: {error.response['Error']['Code']}") from None
        self.stdout.write(tokens["IdToken" if options["id_token"] else "AccessToken"])
