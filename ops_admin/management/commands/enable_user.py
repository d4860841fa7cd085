"""``manage.py enable_user``: undo ``disable_user``. Tokens from before stay
refused; the user signs in again (see :mod:`ops_admin.users`)."""

from __future__ import annotations

from ops_admin.management.user_access import Action, UserAccessCommand
from ops_admin.users import UserActionResult, enable_user


class Command(UserAccessCommand):
    help = (
        "Enable a disabled user again: Cognito lets them sign in, and the API accepts tokens "
        "from their new sign-ins (never those from before the disable). Asks for "
        "confirmation unless --yes; a user who is not disabled is not an error."
    )
    verb, done = "enable", "enabled"

    def action(self) -> Action:
        return enable_user

    def unchanged(self, result: UserActionResult) -> str:
        return "is not disabled"
