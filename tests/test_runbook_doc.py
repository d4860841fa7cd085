"""docs/runbook.md keeps up with the management commands.

The on-call runbook's "Part 2: commands" has one ``## `name``` section per
``manage.py`` command of the project. The commands are discovered from the
filesystem (``<app>/management/commands/*.py``), cross-checked against
Django's own discovery, and each must have its section, naming every
option and subcommand it accepts. A new command, flag or subcommand
therefore fails this test until the runbook says how to use it.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import get_commands, load_command_class
from django.core.management.base import BaseCommand

ROOT = Path(__file__).resolve().parent.parent
RUNBOOK = ROOT / "docs" / "runbook.md"


def project_commands() -> dict[str, str]:
    """``{command: app module}`` for every command file in the project."""
    found: dict[str, str] = {}
    for path in sorted(ROOT.glob("*/management/commands/*.py")):
        if path.stem.startswith("_"):
            continue
        app = path.parent.parent.parent.name
        assert path.stem not in found, f"{path.stem} is defined by {found[path.stem]} and {app}"
        found[path.stem] = app
    return found


def runbook() -> str:
    return RUNBOOK.read_text(encoding="utf-8")


def section(name: str) -> str:
    """The text of the command's ``## `name``` section, up to the next heading
    of the same or a higher level."""
    text = runbook()
    match = re.search(rf"^## `{re.escape(name)}`\n(.*?)(?=^#{{1,2}} |\Z)", text, re.M | re.S)
    assert match, f"docs/runbook.md has no '## `{name}`' section for manage.py {name}"
    return match.group(1)


def base_options() -> set[str]:
    """The options every Django command has (--settings, --verbosity, ...)."""
    return _long_options(BaseCommand().create_parser("manage.py", "base"))


def _long_options(parser: argparse.ArgumentParser) -> set[str]:
    return {
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--")
    }


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found


COMMANDS = project_commands()


def test_discovery_finds_the_commands_django_runs() -> None:
    project_apps = {
        config.name
        for config in apps.get_app_configs()
        if Path(config.path).resolve().parent == ROOT  # not the installed packages in .venv
    }
    django_sees = {name for name, app in get_commands().items() if app in project_apps}
    assert set(COMMANDS) == django_sees
    assert {"provision", "backup", "disable_user"} <= set(COMMANDS)


def test_readme_links_the_runbook() -> None:
    assert "(docs/runbook.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_runbook_documents_the_command(name: str) -> None:
    text = section(name)
    assert f"manage.py {name}" in text, f"the '{name}' section shows no run of it"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_runbook_names_every_option_and_subcommand(name: str) -> None:
    command = load_command_class(COMMANDS[name], name)
    parser = command.create_parser("manage.py", name)
    text = section(name)
    ignored = base_options()
    missing = sorted(
        option
        for option in _long_options(parser) - ignored
        if not re.search(rf"{re.escape(option)}(?![\w-])", text)
    )
    for sub, subparser in _subparsers(parser).items():
        if f"{name} {sub}" not in text:
            missing.append(f"{name} {sub}")
        missing.extend(
            f"{sub} {option}"
            for option in sorted(_long_options(subparser) - {"--help"})
            if not re.search(rf"{re.escape(option)}(?![\w-])", text)
        )
    assert not missing, f"docs/runbook.md, section '{name}', does not mention: {missing}"
