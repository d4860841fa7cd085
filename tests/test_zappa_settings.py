"""zappa_settings.json describes deployable stages (refined by the Lambda
packaging work): Python 3.11, our settings module, the runbook's sizes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

SETTINGS = json.loads((Path(__file__).resolve().parent.parent / "zappa_settings.json").read_text())


def stage(name: str) -> dict[str, Any]:
    config = dict(SETTINGS[name])
    parent = config.pop("extends", None)
    return {**stage(parent), **config} if parent else config


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_stage_is_deployable(name: str) -> None:
    config = stage(name)
    assert config["runtime"] == "python3.11"
    assert config["memory_size"] == 512
    assert config["timeout_seconds"] == 30
    assert config["debug"] is False
    assert importlib.util.find_spec(config["django_settings"]) is not None
    env = config["environment_variables"]
    assert env["DJANGO_DEBUG"] == "false"
    assert env["DYNAMODB_TABLE"] == f"ai-lifestyle-app-goals-{name}"
    assert "DJANGO_SECRET_KEY" not in env  # secrets never live in this file
    assert {"tests", ".venv", ".local"} <= set(config["exclude"])
