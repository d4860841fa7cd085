"""Settings for the stack ``make run`` starts on this machine.

``make run`` exports the stack's coordinates to the server it starts and
also writes them to ``.local/stack.json``; these settings read that file, so
``manage.py`` commands in another terminal talk to the same stack without
any variable set by hand. Environment variables still win.
"""

import json
import os
from pathlib import Path

STACK_FILE = Path(
    os.environ.get(
        "LOCAL_STACK_FILE", Path(__file__).resolve().parent.parent.parent / ".local" / "stack.json"
    )
)


def _stack() -> dict[str, str]:
    try:
        return json.loads(STACK_FILE.read_text())
    except (OSError, ValueError):
        return {}


_from_stack = {
    "AWS_ENDPOINT_URL": "aws_endpoint_url",
    "AWS_REGION": "region",
    "DYNAMODB_TABLE": "table",
    "AWS_STORAGE_BUCKET_NAME": "bucket",
    "COGNITO_USER_POOL_ID": "user_pool_id",
    "COGNITO_APP_CLIENT_ID": "app_client_id",
}
_stack_values = _stack()
for _env, _key in _from_stack.items():
    if _stack_values.get(_key):
        os.environ.setdefault(_env, _stack_values[_key])

# moto accepts any credentials; real ones must never be used against it.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
# The console is served over plain HTTP on a laptop: its cookies cannot be Secure.
os.environ.setdefault("CONSOLE_SECURE_COOKIES", "false")
os.environ.setdefault("DJANGO_SECRET_KEY", "local-only-secret-key-never-deployed")
os.environ.setdefault("DYNAMODB_TABLE", "ai-lifestyle-app-goals-local")
os.environ.setdefault("AWS_STORAGE_BUCKET_NAME", "ai-lifestyle-app-attachments-local")
# The pool make run creates (lifestyle/local.py); without this, `provision`
# in a second terminal looks for, and creates, the base default's `-dev` pool.
os.environ.setdefault("COGNITO_USER_POOL_NAME", "ai-lifestyle-app-users-local")

from lifestyle.settings.base import *  # noqa: E402, F403
