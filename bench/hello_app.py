"""Baseline (a): settings of the smallest Django + DRF app, one "hello"
view (bench/hello_urls.py), served by the same Zappa handler: what the
framework costs before any of our code runs."""

SECRET_KEY = "bench-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "bench.hello_urls"
INSTALLED_APPS = ["rest_framework"]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
REST_FRAMEWORK: dict[str, object] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "UNAUTHENTICATED_TOKEN": None,
}
