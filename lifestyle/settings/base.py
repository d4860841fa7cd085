"""Production settings: everything that differs between deployments comes
from environment variables (see the table in README.md)."""

from __future__ import annotations

from pathlib import Path

from lifestyle.env import env_bool, env_list, env_optional, env_rate, env_str
from lifestyle.secrets import load_secrets
from lifestyle.startup import hold_collector

# The collector stands aside until the first request is answered (cold start).
hold_collector()

# Deployments keep DJANGO_SECRET_KEY and kin in Secrets Manager: with
# LIFESTYLE_SECRET_ID set, the secret fills in the variables not yet set,
# once per process, before anything below reads them.
load_secrets()

BASE_DIR = Path(__file__).resolve().parent.parent.parent

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
DEBUG = env_bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")

INSTALLED_APPS = [
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "lifestyle",
    "goals",
    "activities",
    "accounts",
    "sync",
    "ops_admin",
]

MIDDLEWARE = [
    "lifestyle.middleware.RequestLogMiddleware",  # first: sees every request's final status
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "lifestyle.middleware.RequestBodyLimitMiddleware",
    "lifestyle.ratelimit.RateLimitHeadersMiddleware",  # X-RateLimit-* on limited responses
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "lifestyle.urls"
WSGI_APPLICATION = "lifestyle.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csrf",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# No relational database anywhere: Lambda has no disk that lasts.
DATABASES: dict[str, dict[str, str]] = {}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# Static files (Swagger UI, later the console) are served by WhiteNoise from
# the installed packages, the same under runserver and on Lambda.
# Absolute: the stage prefix is added per request by the storage below
# (Django would add SCRIPT_NAME to a relative one once, before any request).
STATIC_URL = "/static/"
WHITENOISE_USE_FINDERS = True
# Where `collectstatic` gathers files when a package is built; unset, the
# files are served straight from the installed apps.
STATIC_ROOT = env_optional("DJANGO_STATIC_ROOT")

# --- AWS -------------------------------------------------------------------
# Lambda sets AWS_REGION itself; elsewhere either name works.
AWS_REGION = env_str("AWS_REGION", env_str("AWS_DEFAULT_REGION", "us-east-1"))
# One endpoint for every AWS service: moto's server locally, unset in AWS.
AWS_ENDPOINT_URL = env_optional("AWS_ENDPOINT_URL")
# botocore's own retry modes ("standard" or "adaptive") for boto3 and PynamoDB.
AWS_RETRY_MODE = env_str("AWS_RETRY_MODE", "standard")
AWS_MAX_ATTEMPTS = int(env_str("AWS_MAX_ATTEMPTS", "3"))

DYNAMODB_TABLE = env_str("DYNAMODB_TABLE", "ai-lifestyle-app-goals-dev")
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME", "ai-lifestyle-app-attachments-dev")

COGNITO_USER_POOL_ID = env_str("COGNITO_USER_POOL_ID", "")
COGNITO_APP_CLIENT_ID = env_str("COGNITO_APP_CLIENT_ID", "")
# The JWKS document's address: derived from the region and pool unless given.
COGNITO_JWKS_URL = env_optional("COGNITO_JWKS_URL")
# Seconds between two JWKS refetches caused by an unknown key id.
COGNITO_JWKS_MIN_REFRESH_SECONDS = 5.0
# Revoked sign-ins (ops_admin.revocations): each process rereads the list at
# most this often, so a disabled user's tokens stop working within it.
REVOCATION_CACHE_SECONDS = float(env_str("REVOCATION_CACHE_SECONDS", "5"))
# How long a revocation is kept: the longest ID/access token lifetime
# Cognito allows (24 h), after which every token it refuses has expired.
REVOCATION_WINDOW_SECONDS = int(env_str("REVOCATION_WINDOW_SECONDS", str(24 * 3600)))
# Revocations the one list item may hold (about 60 bytes each: DynamoDB items
# stop at 400 KB, and every process rereads the item).
REVOCATION_MAX_ENTRIES = 4000
# Account deletion (accounts/deletion.py). DELETE /api/v1/me works on it for
# this long, then answers 202 and the schedule finishes it (API Gateway gives
# up at 29 s).
ACCOUNT_DELETION_REQUEST_SECONDS = 10.0
# The last check for late writes waits this long after the user's tokens are
# revoked: a container may serve its copy of the revocation list for
# REVOCATION_CACHE_SECONDS, and a request it let in may run for the function's
# 30 s timeout.
ACCOUNT_DELETION_SETTLE_SECONDS = REVOCATION_CACHE_SECONDS + 30
# How long the record of a finished deletion is kept (proof of erasure; TTL).
ACCOUNT_DELETION_PROOF_DAYS = 30

STORAGES = {
    "default": {"BACKEND": "lifestyle.storage.S3Storage"},
    "staticfiles": {"BACKEND": "lifestyle.staticfiles.ScriptPrefixStaticFilesStorage"},
}
AWS_S3_REGION_NAME = AWS_REGION
AWS_S3_ENDPOINT_URL = AWS_ENDPOINT_URL
AWS_S3_SIGNATURE_VERSION = "s3v4"
AWS_DEFAULT_ACL = None
AWS_QUERYSTRING_AUTH = True

# --- API -------------------------------------------------------------------
# Requests to the API larger than this are refused with 413 before parsing.
API_MAX_BODY_BYTES = 64 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["lifestyle.auth.CognitoAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "lifestyle.errors.api_exception_handler",
    # Runs after authentication and permissions: per user, see RATE_LIMITS.
    "DEFAULT_THROTTLE_CLASSES": ["lifestyle.ratelimit.UserRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # No django.contrib.auth: an anonymous request simply has no user.
    "UNAUTHENTICATED_USER": None,
    "UNAUTHENTICATED_TOKEN": None,
}

# Per-user request limits (lifestyle/ratelimit.py): scope -> (requests,
# seconds) per window, counted in the DynamoDB table so every Lambda
# container shares them. Each overridable as RATE_LIMIT_<SCOPE>=requests/seconds.
# - read (GET/HEAD/OPTIONS), 600 a minute: a screen of the app makes a few
#   reads and a sync catching up pages through many; 10 a second sustained is
#   far above a person's use and stops a runaway polling loop.
# - write (every other method), 120 a minute: people log a few things a
#   minute; offline work is replayed through /activities:batch (100 items in
#   one request), so a client needing more is retrying in a loop.
# - export (views that declare it), 5 an hour: each export zips all of a
#   user's data and files; the API already returns the running one.
RATE_LIMITS = {
    "read": env_rate("RATE_LIMIT_READ", (600, 60)),
    "write": env_rate("RATE_LIMIT_WRITE", (120, 60)),
    "export": env_rate("RATE_LIMIT_EXPORT", (5, 3600)),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Lifestyle API",
    "DESCRIPTION": (
        "Goals, activities and progress for the Lifestyle mobile app. "
        "Authenticate with a Cognito ID or access token: `Authorization: Bearer <token>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["lifestyle.openapi_auth.preprocess"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "lifestyle.openapi.server_at_script_prefix",
    ],
    "ENUM_NAME_OVERRIDES": {
        "AttachmentStatusEnum": "activities.attachments.STATUSES",
        "AccountDeletionStepEnum": "accounts.deletion.STEPS",
        "ExportStatusEnum": "accounts.exports.STATUSES",
        "ExportFailureEnum": "accounts.exports.FAILURE_CODES",
    },
}

# --- Security headers ------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# API Gateway terminates TLS and forwards the scheme.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Staff console (ops_admin) -----------------------------------------------
# The console's session is a signed cookie (no database anywhere): it holds who
# signed in, their groups and when their Cognito token expires, never a token.
# Only the console's views run the session, messages and CSRF machinery
# (ops_admin.console.staff_view); the API never reads this cookie.
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
SESSION_COOKIE_NAME = "ops_session"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Served over HTTPS everywhere but a laptop (local settings turn these off).
SESSION_COOKIE_SECURE = env_bool("CONSOLE_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "ops_admin.views.session.csrf_failure"
# Another origin the console's forms may come from (a custom domain in front of
# API Gateway); the console's own origin always passes.
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
# A backstop: a session also ends when the Cognito ID token it began with
# expires (an hour by default), whichever is first.
SESSION_COOKIE_AGE = 8 * 3600
MESSAGE_STORAGE = "django.contrib.messages.storage.cookie.CookieStorage"
# Repeated failed sign-ins to one username: the first CONSOLE_FREE_FAILURES
# are free, then each further attempt waits twice as long, up to the cap.
CONSOLE_FREE_FAILURES = 3
CONSOLE_FAILURE_DELAY_SECONDS = 2
CONSOLE_MAX_DELAY_SECONDS = 300
# Failures older than this are forgotten.
CONSOLE_FAILURE_WINDOW_SECONDS = 900

# --- Logging ---------------------------------------------------------------
# One JSON object per line on stderr (CloudWatch on Lambda, the terminal
# locally), every record of a request stamped with its request id, and one
# line per request on "lifestyle.request" (lifestyle/request_log.py).
# PynamoDB's debug logging prints whole items (personal data), so it is
# capped at WARNING whatever the root level. Zappa's access log line
# ("zappa.wsgi") holds the client's IP, user agent and query string, and
# Django's "django.request" repeats what the request line says (a 500's
# traceback included): both stay quiet.
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "lifestyle.request_log.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "pynamodb": {"level": "WARNING"},
        "botocore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "werkzeug": {"level": "WARNING"},
        "zappa.wsgi": {"level": "WARNING"},
        "django.request": {"level": "CRITICAL"},
    },
}

# --- Provisioning (manage.py provision) -------------------------------------
COGNITO_USER_POOL_NAME = env_str("COGNITO_USER_POOL_NAME", "ai-lifestyle-app-users-dev")
COGNITO_APP_CLIENT_NAME = env_str("COGNITO_APP_CLIENT_NAME", "lifestyle-mobile")
STAFF_GROUPS = ("ops-support", "ops-admin")
