"""Static file URLs under the current request's script prefix.

Behind API Gateway's execute-api host the app is served under the stage
(``SCRIPT_NAME`` ``/dev``, set per request by Zappa); on a custom domain it
is served at the root. Django adds ``SCRIPT_NAME`` to a relative
``STATIC_URL`` only once, on first use, which on Lambda is before any
request: pages then linked ``/static/...``, which the execute-api host
refuses. ``STATIC_URL`` is therefore absolute and the prefix is added here,
per request.
"""

from __future__ import annotations

from django.contrib.staticfiles.storage import StaticFilesStorage
from django.urls import get_script_prefix


class ScriptPrefixStaticFilesStorage(StaticFilesStorage):
    def url(self, name: str | None) -> str:
        return get_script_prefix().rstrip("/") + super().url(name)
