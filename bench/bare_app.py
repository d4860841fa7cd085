"""Baseline settings for ``bench/warm.py``: the smallest Django + DRF app
(bench/hello_app.py) with ``bench/bare_urls.py``, a bare view per operation
making the runbook's boto3 calls: the framework and the calls, nothing of
ours (no token check, no serializers, no request log)."""

from bench.hello_app import *  # noqa: F403 (the same app, other URLs)

ROOT_URLCONF = "bench.bare_urls"
