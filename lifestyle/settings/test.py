"""Settings for pytest: AWS is moto (in-process unless a test starts its
server), with fixed names so tests can build resources from settings."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-any-deployment")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
for _name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "COGNITO_JWKS_URL", "LIFESTYLE_SECRET_ID"):
    os.environ.pop(_name, None)

from lifestyle.settings.base import *  # noqa: E402, F403

AWS_REGION = "us-east-1"
AWS_S3_REGION_NAME = AWS_REGION
DYNAMODB_TABLE = "lifestyle-test"
AWS_STORAGE_BUCKET_NAME = "lifestyle-test-attachments"
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
# Tests refresh on every unknown kid so each can exercise the refetch.
COGNITO_JWKS_MIN_REFRESH_SECONDS = 0.0
LOGGING = {**LOGGING, "root": {"handlers": ["console"], "level": "WARNING"}}  # noqa: F405
