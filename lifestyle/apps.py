from django.apps import AppConfig
from django.core.signals import request_finished, setting_changed

_AWS_SETTINGS = {
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_RETRY_MODE",
    "AWS_MAX_ATTEMPTS",
    "DYNAMODB_TABLE",
    "COGNITO_USER_POOL_ID",
    "COGNITO_APP_CLIENT_ID",
    "COGNITO_JWKS_URL",
    "COGNITO_JWKS_MIN_REFRESH_SECONDS",
}


def _reset_on_change(*, setting: str, **_: object) -> None:
    if setting in _AWS_SETTINGS:
        from lifestyle.auth import token_verifier
        from lifestyle.aws import reset_clients

        reset_clients()
        token_verifier.cache_clear()


class LifestyleConfig(AppConfig):
    name = "lifestyle"
    verbose_name = "Lifestyle"

    def ready(self) -> None:
        setting_changed.connect(_reset_on_change, dispatch_uid="lifestyle-aws-settings")
        from lifestyle.startup import release_collector

        request_finished.connect(release_collector, dispatch_uid="lifestyle-startup-collector")
