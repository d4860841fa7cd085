"""``manage.py backup`` and ``manage.py restore_drill`` against the session's
moto server, and the service functions behind them.

Each test gets its own scratch "live" table (created like the product's,
with point-in-time recovery on, and set as ``DYNAMODB_TABLE``), so the
session table other tests use is never touched; every table and backup
named after it is deleted at teardown.
"""

from __future__ import annotations

import io
import json
import random
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test.utils import override_settings

from lifestyle.aws import client
from lifestyle.provisioning import table_spec
from lifestyle.timeutil import rfc3339
from ops_admin import backups
from ops_admin.backups import BackupError
from tests.test_deploy_config import (  # the IAM coverage check's recorder
    ACCOUNT,
    REGION,
    Call,
    denied_requests,
    recorded,  # noqa: F401 (a fixture)
)

ARN_PREFIX = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table"


def goal_item(user: int, title: str = "Run 100 km") -> dict[str, Any]:
    return {
        "pk": {"S": f"USER#{user}"},
        "sk": {"S": f"GOAL#{user:04d}"},
        "type": {"S": "goal"},
        "title": {"S": title},
        "target": {"N": "100.50"},
        "tags": {"SS": ["run", "health"]},
        "photo": {"B": b"\xff\xd8\xff"},
        "history": {"L": [{"N": "1"}, {"M": {"done": {"BOOL": False}}}]},
    }


ITEMS = [goal_item(user) for user in range(6)]


def tables_named_after(name: str) -> list[str]:
    pages = client("dynamodb").get_paginator("list_tables").paginate()
    return [t for page in pages for t in page["TableNames"] if t.startswith(name)]


def backups_named_after(name: str) -> list[dict[str, Any]]:
    pages = client("dynamodb").get_paginator("list_backups").paginate()
    return [
        summary
        for page in pages
        for summary in page["BackupSummaries"]
        if summary["TableName"].startswith(name) and summary["BackupStatus"] != "DELETED"
    ]


@pytest.fixture
def live(aws_stack: dict[str, str]) -> Iterator[str]:
    """A scratch table standing in for the live one."""
    name = f"ops-live-{uuid.uuid4().hex[:10]}"
    dynamodb = client("dynamodb")
    dynamodb.create_table(**table_spec(name))
    dynamodb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    for item in ITEMS:
        dynamodb.put_item(TableName=name, Item=item)
    with override_settings(DYNAMODB_TABLE=name):
        yield name
    for backup in backups_named_after(name):
        dynamodb.delete_backup(BackupArn=backup["BackupArn"])
    for table in tables_named_after(name):
        dynamodb.delete_table(TableName=table)


@dataclass
class Output:
    stdout: str
    stderr: str


def run(command: str, *args: str) -> Output:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=stdout, stderr=stderr)
    return Output(stdout.getvalue(), stderr.getvalue())


def backup(*args: str) -> Output:
    return run("backup", *args)


def refused(*args: str, match: str, command: str = "backup") -> CommandError:
    with pytest.raises(CommandError, match=match) as info:
        run(command, *args)
    return info.value


def make_backup(table: str, name: str = "before-release") -> str:
    return backups.create_backup(table, name).arn


def restored(live: str, suffix: str = "t1") -> str:
    return f"{live}-restored-{suffix}"


# --- The checksum ----------------------------------------------------------------


def test_checksum_ignores_scan_order_set_order_and_number_spelling() -> None:
    shuffled = [json.loads(json.dumps(item, default=list)) for item in ITEMS]  # deep copy
    for item, original in zip(shuffled, ITEMS, strict=True):
        item["photo"]["B"] = original["photo"]["B"]
        item["tags"]["SS"].reverse()
        item["target"]["N"] = "100.5"
    random.Random(7).shuffle(shuffled)
    assert backups.checksum(shuffled) == backups.checksum(ITEMS)


def test_checksum_changes_with_any_one_value() -> None:
    changed = [*ITEMS[:-1], goal_item(5, title="Run 101 km")]
    assert backups.checksum(changed) != backups.checksum(ITEMS)
    assert backups.checksum(ITEMS[:-1]) != backups.checksum(ITEMS)
    assert backups.checksum([]) == "0" * 64
    # Summed, not XOR-ed: a repeated item does not cancel itself out.
    assert backups.checksum([ITEMS[0], ITEMS[0]]) != backups.checksum([])


def test_waiting_gives_up_with_a_clear_message() -> None:
    lines: list[str] = []
    with pytest.raises(BackupError, match="still CREATING after 0 s"):
        backups._wait("table t", lambda: "CREATING", "ACTIVE", lines.append, 0, 0)
    assert lines == ["table t: CREATING (0 s)"]


# --- create and list ---------------------------------------------------------------


def test_create_and_list(live: str) -> None:
    out = backup("create", "--name", "before-release")
    assert f"Backup before-release of {live}: AVAILABLE" in out.stdout
    assert f"arn: {ARN_PREFIX}/{live}/backup/" in out.stdout
    backup("create")  # default name
    listed = json.loads(backup("list", "--json").stdout)
    assert {entry["name"][:7] for entry in listed} == {"before-", "manual-"}
    assert all(entry["table"] == live and entry["status"] == "AVAILABLE" for entry in listed)
    text = backup("list").stdout
    assert f"2 backups of {live}, newest first:" in text
    assert "before-release  AVAILABLE  USER" in text


def test_create_json(live: str) -> None:
    created = json.loads(backup("create", "--name", "v1.2.3_pre-deploy", "--json").stdout)
    assert created["name"] == "v1.2.3_pre-deploy"
    assert created["arn"].startswith(f"{ARN_PREFIX}/{live}/backup/")


def test_list_of_a_table_without_backups(live: str) -> None:
    assert backup("list").stdout == f"Table {live} has no backups.\n"
    assert json.loads(backup("list", "--json").stdout) == []


def test_create_dry_run_changes_nothing(live: str) -> None:
    out = backup("create", "--name", "planned", "--dry-run")
    assert f"Would back up table {live} as 'planned'. Dry run: nothing done." in out.stdout
    assert backups_named_after(live) == []


@pytest.mark.parametrize("name", ["ab", "with space", "semi;colon", "é-accent", "x" * 256])
def test_create_refuses_bad_names(live: str, name: str) -> None:
    refused("create", "--name", name, match="is not valid: use 3-255 characters")
    assert backups_named_after(live) == []


def test_create_refuses_an_unknown_table(live: str) -> None:
    refused("create", "--table", f"{live}-missing", match="TableNotFoundException")
    refused("create", "--table", f"{live}-missing", "--dry-run", match="ResourceNotFound")


# --- restore from a backup -----------------------------------------------------------


def test_backup_restored_and_verified(live: str) -> None:
    arn = make_backup(live)
    before = backups.digest_table(live)
    out = backup("restore", "before-release", "--yes")  # by name, default target
    (target,) = [t for t in tables_named_after(live) if t != live]
    assert target.startswith(f"{live}-restored-20")
    assert f"into the new table {target}." in out.stdout
    assert f"Restored {target}: ACTIVE." in out.stdout
    assert f"{target}: 6 items, checksum {before.checksum}" in out.stdout
    assert f"table {target}: ACTIVE" in out.stderr  # progress goes to stderr

    verified = backup("verify", target)
    assert "Equal: the same 6 items." in verified.stdout
    comparison = json.loads(backup("verify", target, "--json").stdout)
    assert comparison["equal"] is True
    assert [t["items"] for t in comparison["tables"]] == [6, 6]

    # By ARN, to a name of our choosing; the live table is untouched.
    backup("restore", arn, "--target", restored(live, "by-arn"), "--yes")
    assert backups.verify(live, restored(live, "by-arn")).equal
    assert backups.digest_table(live) == before


def test_restore_no_wait_starts_and_says_how_to_check(live: str) -> None:
    make_backup(live)
    out = backup("restore", "before-release", "--target", restored(live), "--yes", "--no-wait")
    assert f"Restore started: {restored(live)} is" in out.stdout
    assert f"manage.py backup verify {restored(live)} --table {live}" in out.stdout


def test_restore_never_waits_inside_lambda(live: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "ai-lifestyle-app-prod")
    out = backup(
        "restore-pitr", "--at=latest", "--target", restored(live), "--yes", "--actor=oncall"
    )
    assert "Running inside Lambda: not waiting" in out.stdout
    assert f"Restore started: {restored(live)} is" in out.stdout
    assert out.stderr == ""  # no polling, no scan of the live table


def test_restore_refuses_an_existing_table(live: str) -> None:
    make_backup(live)
    client("dynamodb").create_table(**table_spec(restored(live, "taken")))
    refused(
        "restore",
        "before-release",
        "--target",
        restored(live, "taken"),
        "--yes",
        match="already exists: restores always create a new table",
    )
    assert backups.digest_table(restored(live, "taken")).items == 0


@pytest.mark.parametrize(
    "subcommand", [["restore", "before-release"], ["restore-pitr", "--at=latest"]]
)
def test_restore_over_the_live_table_is_refused(live: str, subcommand: list[str]) -> None:
    make_backup(live)
    before = backups.digest_table(live)
    refused(*subcommand, "--target", live, "--yes", match="is the live table: a restore never")
    assert backups.digest_table(live) == before


@pytest.mark.parametrize("suffix", ["-copy", "-restored-", "-restoredx", "-restored-bad name"])
def test_restore_target_must_follow_the_policy_pattern(live: str, suffix: str) -> None:
    make_backup(live)
    refused(
        "restore",
        "before-release",
        "--target",
        live + suffix,
        "--yes",
        match=rf"must be named '{live}-restored-<suffix>': the Lambda's IAM policy"
        if suffix != "-restored-bad name"
        else "is not valid",
    )
    refused("restore", "before-release", "--target", "other-table", "--yes", match="IAM policy")
    assert tables_named_after(live) == [live]


def test_restore_refuses_unknown_or_malformed_backups(live: str) -> None:
    unknown = f"{ARN_PREFIX}/{live}/backup/01795861607519-9a407fd2"
    refused("restore", unknown, "--yes", match="No backup .* `manage.py backup list`")
    refused("restore", "arn:aws:s3:::bucket", "--yes", match="is not a DynamoDB backup ARN")
    refused("restore", "no-such-backup", "--yes", match="has no backup named 'no-such-backup'")
    assert tables_named_after(live) == [live]


def test_restore_refuses_a_backup_of_another_table(live: str) -> None:
    arn = make_backup(live)
    other = f"{live}-other"
    client("dynamodb").create_table(**table_spec(other))
    refused("restore", arn, "--table", other, "--yes", match=f"is of table {live}, not {other}")


def test_restore_refuses_a_name_two_backups_share(live: str) -> None:
    make_backup(live, "twice")
    make_backup(live, "twice")
    refused("restore", "twice", "--yes", match="2 backups of .* are named 'twice'")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_restore_asks_and_refuses_without_a_terminal(
    live: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_backup(live)
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # a pipe: never read as an answer
    refused("restore", "before-release", match="stdin is not a terminal .* --yes")
    refused("restore-pitr", "--at", "latest", match="stdin is not a terminal .* --yes")
    assert tables_named_after(live) == [live]


def test_restore_asks_on_a_terminal(live: str, monkeypatch: pytest.MonkeyPatch) -> None:
    make_backup(live)
    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    refused("restore", "before-release", "--target", restored(live), match="Cancelled")
    assert tables_named_after(live) == [live]
    monkeypatch.setattr(sys, "stdin", Terminal("yes\n"))
    out = backup("restore", "before-release", "--target", restored(live))
    assert "Go ahead? [y/N]" in out.stderr
    assert backups.verify(live, restored(live)).equal


def test_restore_dry_runs_change_nothing(live: str) -> None:
    make_backup(live)
    out = backup("restore", "before-release", "--target", restored(live), "--dry-run")
    assert f"into the new table {restored(live)}.\nDry run: nothing done." in out.stdout
    out = backup("restore-pitr", "--at", "latest", "--dry-run")
    assert f"Restore {live} as it was at the latest restorable time" in out.stdout
    assert "Dry run: nothing done." in out.stdout
    assert tables_named_after(live) == [live]
    # A dry run still refuses what the real run would.
    refused("restore", "before-release", "--target", live, "--dry-run", match="live table")


# --- point-in-time restore ------------------------------------------------------------


def test_restore_pitr_latest_is_verified_against_the_source(live: str) -> None:
    out = backup("restore-pitr", "--at", "latest", "--target", restored(live), "--yes")
    assert f"Restored {restored(live)}: ACTIVE." in out.stdout
    assert "Equal: the same 6 items." in out.stdout


def test_restore_pitr_latest_reports_a_difference(live: str) -> None:
    # moto copies the current data whatever the time asked for, so to see
    # a difference the source must change after the copy: verify instead.
    backup("restore-pitr", "--at", "latest", "--target", restored(live), "--yes")
    client("dynamodb").put_item(TableName=live, Item=goal_item(99))
    refused("verify", restored(live), match="differ")


def test_restore_pitr_to_a_time_inside_the_window(live: str) -> None:
    earliest, _ = backups.restorable_window(live)
    out = backup("restore-pitr", "--at", rfc3339(earliest), "--target", restored(live), "--yes")
    assert f"as it was at {rfc3339(earliest)}" in out.stdout
    assert f"{restored(live)}: 6 items" in out.stdout


@pytest.mark.parametrize(
    ("at", "match"),
    [
        ("yesterday", "is not a time: give 'latest' or RFC 3339"),
        ("2026-01-05 10:00", "has no offset"),
        ("2026-01-05T10:00:00", "has no offset"),
        ("2026-13-05T10:00:00Z", "is not a time"),
        ("", "is not a time"),
    ],
)
def test_restore_pitr_refuses_bad_times(live: str, at: str, match: str) -> None:
    refused("restore-pitr", "--at", at, "--yes", match=match)
    assert tables_named_after(live) == [live]


@pytest.mark.parametrize("offset", [timedelta(days=-1), timedelta(days=1)])
def test_restore_pitr_refuses_times_outside_the_window(live: str, offset: timedelta) -> None:
    earliest, _ = backups.restorable_window(live)
    at = rfc3339(earliest + offset)
    refused("restore-pitr", "--at", at, "--yes", match="outside .* restorable window")


def test_restore_pitr_refuses_when_recovery_is_off(live: str) -> None:
    client("dynamodb").update_continuous_backups(
        TableName=live, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    refused("restore-pitr", "--at", "latest", "--yes", match="Point-in-time recovery is off")


# --- verify --------------------------------------------------------------------------------


def test_verify_detects_one_changed_item(live: str) -> None:
    backup("restore-pitr", "--at", "latest", "--target", restored(live), "--yes")
    changed = {**goal_item(3), "title": {"S": "Run 101 km"}}
    client("dynamodb").put_item(TableName=restored(live), Item=changed)
    stdout = io.StringIO()
    with pytest.raises(CommandError, match="differ"):
        call_command("backup", "verify", restored(live), "--json", stdout=stdout)
    result = json.loads(stdout.getvalue())
    assert result["equal"] is False
    (a, b) = result["tables"]
    assert a["items"] == b["items"] == 6
    assert a["checksum"] != b["checksum"]
    stdout = io.StringIO()
    with pytest.raises(CommandError):
        call_command("backup", "verify", restored(live), stdout=stdout)
    assert "Different: 6 and 6 items, checksums differ." in stdout.getvalue()


def test_verify_refuses_a_missing_table(live: str) -> None:
    refused("verify", f"{live}-restored-none", match="ResourceNotFoundException")


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ([], "the following arguments are required"),
        (["drop"], "invalid choice"),
        (["restore"], "the following arguments are required: backup"),
        (["restore-pitr", "--yes"], "the following arguments are required: --at"),
        (["verify"], "the following arguments are required: other"),
        (["list", "--yes"], "unrecognized arguments: --yes"),
        (["restore", "x", "--timeout=0"], "--timeout must be positive"),
        (["restore-pitr", "--at=latest", "--timeout=soon"], "invalid float value"),
    ],
)
def test_bad_arguments(live: str, arguments: list[str], match: str) -> None:
    refused(*arguments, match=match)


# --- the restore drill --------------------------------------------------------------------


def test_restore_drill_passes_and_leaves_nothing_behind(live: str) -> None:
    before = backups.digest_table(live)
    out = run("restore_drill", "--items", "7")
    assert out.stdout.startswith(f"Restore drill for {live} (scratch table {live}-drill-")
    for step in (
        "create scratch table",
        "write marker items",
        "back up scratch table",
        "restore to a new table",
        "verify restored = scratch",
        "clean up",
    ):
        assert f"  {step} " in out.stdout
    assert "7 items, checksum" in out.stdout
    assert "PASS in" in out.stdout
    assert tables_named_after(live) == [live]
    assert backups_named_after(live) == []
    assert backups.digest_table(live) == before  # the live table untouched


def test_restore_drill_json(live: str) -> None:
    report = json.loads(run("restore_drill", "--json").stdout)
    assert report["passed"] is True
    assert report["scratch_table"].startswith(f"{live}-drill-")
    assert report["restored_table"].startswith(report["scratch_table"] + "-restored-")
    assert [step["name"] for step in report["steps"]][-1] == "clean up"
    assert len(report["steps"]) == 6


def test_restore_drill_fails_on_a_bad_restore_and_still_cleans_up(
    live: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    restore = backups.restore_from_backup

    def restore_then_lose_an_item(arn: str, target: str | None = None) -> Any:
        started = restore(arn, target)
        key = {"pk": {"S": f"DRILL#{started.source_table}"}, "sk": {"S": "MARKER#0001"}}
        client("dynamodb").delete_item(TableName=started.target, Key=key)
        return started

    monkeypatch.setattr(backups, "restore_from_backup", restore_then_lose_an_item)
    error = refused("--items=3", command="restore_drill", match="FAIL after")
    assert "the restored table differs: 3 items" in str(error)
    assert tables_named_after(live) == [live]
    assert backups_named_after(live) == []


def test_restore_drill_dry_run_does_nothing(live: str) -> None:
    out = run("restore_drill", "--dry-run")
    assert f"Would create {live}-drill-" in out.stdout
    assert "Dry run: nothing done." in out.stdout
    assert tables_named_after(live) == [live]


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        (["--items=0"], "--items must be 1-100"),
        (["--items=101"], "--items must be 1-100"),
        (["--timeout=0"], "--timeout must be positive"),
        (["--table", "t" * 250], "too long to name drill tables"),
    ],
)
def test_restore_drill_refuses_bad_arguments(live: str, arguments: list[str], match: str) -> None:
    refused(*arguments, command="restore_drill", match=match)
    assert tables_named_after(live) == [live]


# --- what the Lambda may do -----------------------------------------------------------------


def test_the_lambda_policy_allows_the_backup_commands(
    live: str,
    recorded: list[Call],  # noqa: F811 (the fixture imported above)
) -> None:
    """Every request of create, list, restore, restore-pitr and verify of
    restored copies is granted to the function (`zappa manage`)."""
    backup("create", "--name", "before-release")
    backup("list")
    backup("restore", "before-release", "--target", restored(live, "a"), "--yes")
    backup("restore-pitr", "--at=latest", "--target", restored(live, "b"), "--yes", "--no-verify")
    backup("verify", restored(live, "a"), "--table", restored(live, "b"))
    denied = denied_requests(recorded, table=live, user_pool_id=f"{REGION}_Example1")
    assert not denied, denied
    assert {call.operation for call in recorded} >= {
        "CreateBackup",
        "ListBackups",
        "DescribeBackup",
        "RestoreTableFromBackup",
        "DescribeContinuousBackups",
        "RestoreTableToPointInTime",
        "DescribeTable",
        "Scan",
    }
