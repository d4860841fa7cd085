"""``manage.py disable_user``: the runbook's "Disable compromised user",
effective in the API within seconds (see :mod:`ops_admin.users`)."""

from __future__ import annotations

from django.conf import settings

from ops_admin.management.user_access import Action, UserAccessCommand
from ops_admin.users import UserActionResult, disable_user


class Command(UserAccessCommand):
    help = (
        "Disable a user: Cognito refuses their sign-ins, they are signed out everywhere, and "
        "the API refuses the tokens they still hold within REVOCATION_CACHE_SECONDS "
        f"({settings.REVOCATION_CACHE_SECONDS:g} s). Asks for confirmation unless --yes; "
        "already disabled is not an error."
    )
    verb, done = "disable", "disabled"

    def action(self) -> Action:
        return disable_user

    def unchanged(self, result: UserActionResult) -> str:
        access = result.user.access
        if access is None or access.disabled_at is None:
            return "is already disabled"
        when = access.disabled_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"is already disabled (by {access.disabled_by} at {when})"
