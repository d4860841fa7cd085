"""bench/load.py must keep working: its smoke run, end to end (moto in a
child process, gunicorn, three simulated users, the checks), and the
checks themselves must catch what they are there to catch.

The full run (``make load``) is a measurement and stays out of the suite;
nothing here looks at a latency."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench import load

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quick_run() -> subprocess.CompletedProcess[str]:
    # The child sets its own settings module and AWS variables; none of the
    # test settings' values (or a developer's AWS profile) may leak into it.
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "DJANGO_", "COGNITO_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "bench.load", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_quick_run_passes_its_checks(quick_run: subprocess.CompletedProcess[str]) -> None:
    assert quick_run.returncode == 0, quick_run.stdout + quick_run.stderr[-3000:]
    assert "Checks passed" in quick_run.stdout
    assert "Checking what is stored" in quick_run.stderr  # the progress lines


def test_quick_run_reports_every_operation(quick_run: subprocess.CompletedProcess[str]) -> None:
    """Each user does every action once whatever the duration, so each has
    its row, and an overall row closes the table."""
    rows = {
        line.split("|")[1].strip()
        for line in quick_run.stdout.splitlines()
        if line.startswith("| ") and not line.startswith("| ---")
    }
    # log_two_devices sends log_activity requests from two devices.
    actions = set(load.ACTION_WEIGHTS) - {"log_two_devices"}
    assert actions | {"log_activity (resend)", "**all**"} <= rows


def user_with(expected: dict[str, load.Expected]) -> load.SimUser:
    api = load.Api("http://127.0.0.1:9", "token", load.Stats())  # never called here
    return load.SimUser("someone", "sub", api, api, random.Random(0), expected=expected)


def stored(value: str) -> SimpleNamespace:
    return SimpleNamespace(value=Decimal(value))


def test_the_activity_check_finds_each_kind_of_loss() -> None:
    user = user_with(
        {
            "acked": load.Expected("g", {Decimal(3)}, True),
            "lost": load.Expected("g", {Decimal(1)}, True),
            "deleted": load.Expected("g", {Decimal(1)}, False),
            "changed": load.Expected("g", {Decimal(5)}, True),
            "unknown-absent": load.Expected("g", {Decimal(2)}, None),
        }
    )
    activities = {
        "acked": stored("3"),
        "deleted": stored("1"),
        "changed": stored("4"),
        "phantom": stored("9"),
    }
    problems = load.check_activities(user, activities, load.CheckCounts())
    assert sorted(problems) == [
        "activity changed: stored 4, the device has 5",
        "activity deleted: deleted (204) but still stored",
        "activity lost: acknowledged but not stored",
        "activity phantom: stored, but no device sent it",
    ]


def test_the_activity_check_passes_what_is_consistent() -> None:
    user = user_with(
        {
            "acked": load.Expected("g", {Decimal("2.5")}, True),
            "gone": load.Expected("g", {Decimal(1)}, False),
            "edit-unanswered": load.Expected("g", {Decimal(1), Decimal(7)}, True),
            "log-unanswered": load.Expected("g", {Decimal(2)}, None),
        }
    )
    activities = {"acked": stored("2.50"), "edit-unanswered": stored("7")}
    counts = load.CheckCounts()
    assert load.check_activities(user, activities, counts) == []
    assert (counts.activities_present, counts.activities_gone, counts.activities_unknown) == (
        2,
        1,
        1,
    )


def test_results_replace_only_the_marked_section(tmp_path: Path) -> None:
    doc = tmp_path / "reliability.md"
    doc.write_text(
        f"# Prose\n\nkept\n\n{load.RESULTS_START}\nold table\n{load.RESULTS_END}\n\nafter, kept\n"
    )
    load.write_results("### new run\n", doc)
    load.write_results("### newer run\n", doc)
    assert doc.read_text() == (
        f"# Prose\n\nkept\n\n{load.RESULTS_START}\n### newer run\n{load.RESULTS_END}\n\n"
        "after, kept\n"
    )


def test_results_refuse_a_document_without_markers(tmp_path: Path) -> None:
    doc = tmp_path / "reliability.md"
    doc.write_text("# Prose only\n")
    with pytest.raises(SystemExit, match="load-results"):
        load.write_results("### run\n", doc)
    assert doc.read_text() == "# Prose only\n"


def test_percentiles_are_nearest_rank() -> None:
    ms = [float(n) for n in range(1, 101)]
    assert (load.percentile(ms, 50), load.percentile(ms, 99), load.percentile([7.0], 95)) == (
        50.0,
        99.0,
        7.0,
    )
