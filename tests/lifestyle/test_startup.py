"""The collector waits during a cold start and comes back after the first
request, in a process of its own as Lambda starts one (Zappa's handler)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = textwrap.dedent(
    """
    import gc, json, sys
    import zappa_settings  # the module Zappa generates beside its handler
    from zappa.handler import lambda_handler
    import lifestyle.settings.test  # what the handler loads first

    held = gc.get_threshold()
    event = {
        "resource": "/{proxy+}", "path": "/api/v1/goals", "httpMethod": "GET",
        "headers": {"Host": "localhost"},
        "multiValueHeaders": {}, "queryStringParameters": None,
        "multiValueQueryStringParameters": None, "pathParameters": None,
        "stageVariables": None, "body": None, "isBase64Encoded": False,
        "requestContext": {"stage": "dev", "path": "/dev/api/v1/goals",
                           "httpMethod": "GET", "requestId": "t",
                           "identity": {"sourceIp": "203.0.113.7"}},
    }
    status = lambda_handler(event, None)["statusCode"]
    print(json.dumps({"held": held, "status": status, "after": gc.get_threshold(),
                      "frozen": gc.get_freeze_count()}))
    """
)


def test_the_collector_waits_for_the_first_request(tmp_path: Path) -> None:
    (tmp_path / "zappa_settings.py").write_text(
        'API_STAGE = "dev"\nPROJECT_NAME = "t"\nDJANGO_SETTINGS = "lifestyle.settings.test"\n'
        'DEBUG = False\nLOG_LEVEL = "WARNING"\nBINARY_SUPPORT = True\n'
        "CONTEXT_HEADER_MAPPINGS = {}\nDOMAIN = None\nBASE_PATH = None\n"
        "ENVIRONMENT_VARIABLES = {}\nEXCEPTION_HANDLER = None\nAWS_EVENT_MAPPING = {}\n"
        "AWS_BOT_EVENT_MAPPING = {}\nCOGNITO_TRIGGER_MAPPING = {}\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["status"] == 401  # answered without a token: no AWS needed
    assert seen["held"][0] == 100_000
    assert seen["after"] == [700, 10, 10]  # CPython's own defaults
    assert seen["frozen"] > 10_000  # start-up's objects, out of the collector's way
