"""The console's Backups area against the session's moto server: the live
table's backups and restored copies for any staff member; creating,
restoring (from a backup or to a point in time, with the new table's name
typed to confirm) and verifying for ops-admin only, each in the audit log;
and the audit entries ``manage.py backup`` writes for the same actions.

Each test gets its own scratch "live" table (``tests/ops/test_backups.py``'s
``live`` fixture), so the session table is never backed up or restored.
Audit entries still go to the session table (PynamoDB's), as staff sign-ins'
do, and are found by their target: every name here is unique to the test.
"""

from __future__ import annotations

import getpass
import html
import re
import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import EndpointConnectionError
from django.test import Client

from lifestyle.aws import client
from lifestyle.provisioning import table_spec
from lifestyle.timeutil import rfc3339
from ops_admin import audit, backups
from ops_admin.views import backups as backup_views
from tests.conftest import User
from tests.ops.conftest import console_for
from tests.ops.test_backups import (  # the scratch live table and its helpers
    backup,
    backups_named_after,
    goal_item,
    live,  # noqa: F401 (a fixture)
    make_backup,
    refused,
    restored,
    tables_named_after,
)
from tests.test_deploy_config import (  # the IAM coverage check's recorder
    REGION,
    Call,
    denied_requests,
    recorded,  # noqa: F401 (a fixture)
)

BACKUPS = "/ops/backups"
CREATE = "/ops/backups/create"
RESTORE = "/ops/backups/restore"
PITR = "/ops/backups/restore-pitr"
VERIFY = "/ops/backups/verify"


def text(response: Any) -> str:
    """The page's visible text, tags removed, entities decoded, spaces collapsed."""
    page = response.content.decode()
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def entries(target: str, action: str) -> list[audit.AuditEntry]:
    return [e for e in audit.entries_about(target, limit=50).entries if e.action == action]


def unique_name(prefix: str = "console") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def table_status(name: str) -> str:
    return str(client("dynamodb").describe_table(TableName=name)["Table"]["TableStatus"])


def restore_form(arn: str, target: str, confirm: str | None = None) -> dict[str, str]:
    return {"backup": arn, "target": target, "confirm": target if confirm is None else confirm}


def pitr_form(at: str, target: str, confirm: str | None = None) -> dict[str, str]:
    return {"at": at, "target": target, "confirm": target if confirm is None else confirm}


# --- Who sees and does what ---------------------------------------------------------------


def test_support_sees_backups_and_copies_but_no_action_forms(
    live: str,  # noqa: F811
    support_console: Client,
) -> None:
    make_backup(live, "before-release")
    backup("restore", "before-release", "--target", restored(live), "--yes", "--actor=t")

    response = support_console.get(BACKUPS)

    assert response.status_code == 200
    page, shown = response.content.decode(), text(response)
    assert f"Backups of {live}" in shown
    assert "before-release" in shown
    assert "AVAILABLE" in shown
    assert "123 bytes" in shown  # moto's size for every backup
    assert restored(live) in shown
    assert "ACTIVE" in shown
    assert "backup before-release" in shown  # where the copy came from
    assert "Point-in-time recovery" in shown
    for action in (CREATE, RESTORE, PITR, VERIFY):
        assert action not in page, action
    assert "<form" not in page.replace('action="/ops/sign-out"', "").split("</header>", 1)[1]


def test_admin_sees_the_forms(live: str, admin_console: Client) -> None:  # noqa: F811
    arn = make_backup(live, "before-release")
    backup("restore", "before-release", "--target", restored(live), "--yes", "--actor=t")

    page = admin_console.get(BACKUPS).content.decode()

    assert f'action="{CREATE}"' in page
    assert f'href="{RESTORE}?backup={arn.replace(":", "%3A").replace("/", "%2F")}"' in page
    assert f'href="{PITR}"' in page
    assert f'action="{VERIFY}"' in page
    assert f'name="table" value="{restored(live)}"' in page


ADMIN_PAGES = [("get", RESTORE), ("get", PITR)]
ADMIN_POSTS = [("post", CREATE), ("post", RESTORE), ("post", PITR), ("post", VERIFY)]


@pytest.mark.parametrize(("method", "url"), ADMIN_PAGES + ADMIN_POSTS)
def test_support_is_refused_every_action(
    live: str,  # noqa: F811
    support: User,
    method: str,
    url: str,
) -> None:
    arn = make_backup(live, "before-release")
    target = restored(live)
    data = {"name": "by-support", "at": "latest", "table": target, **restore_form(arn, target)}
    browser = console_for(support)

    response = getattr(browser, method)(url, data)

    assert response.status_code == 403
    assert "This needs the ops-admin group; you are ops-support." in text(response)
    assert tables_named_after(live) == [live]
    assert [b["BackupName"] for b in backups_named_after(live)] == ["before-release"]
    assert audit.entries_about(target).entries == []
    assert audit.entries_about("by-support").entries == []


@pytest.mark.parametrize("url", [BACKUPS, RESTORE, PITR])
def test_signed_out_visitors_are_sent_to_sign_in(live: str, url: str) -> None:  # noqa: F811
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/ops/sign-in?next=")


@pytest.mark.parametrize("url", [CREATE, VERIFY])
def test_the_actions_only_take_posts(live: str, admin_console: Client, url: str) -> None:  # noqa: F811
    assert admin_console.get(url).status_code == 405


def test_the_list_only_takes_gets(live: str, admin_console: Client) -> None:  # noqa: F811
    assert admin_console.post(BACKUPS, {"name": "x"}).status_code == 405
    assert backups_named_after(live) == []


def test_every_form_carries_a_csrf_token_and_the_server_checks_it(
    live: str,  # noqa: F811
    admin: User,
) -> None:
    arn = make_backup(live, "before-release")
    backup("restore", "before-release", "--target", restored(live), "--yes", "--actor=t")
    browser = console_for(admin, enforce_csrf=True)
    for url in (BACKUPS, f"{RESTORE}?backup={arn}", PITR):
        page = browser.get(url).content.decode()
        forms = re.findall(r'<form method="post".*?</form>', page, re.S)
        assert len(forms) >= 2, url  # the page's own, and signing out
        for form in forms:
            assert 'name="csrfmiddlewaretoken"' in form, (url, form[:120])

    target = restored(live, "no-token")
    for url, data in (
        (CREATE, {"name": "no-token"}),
        (RESTORE, restore_form(arn, target)),
        (PITR, pitr_form("latest", target)),
        (VERIFY, {"table": restored(live)}),
    ):
        assert browser.post(url, data).status_code == 403, url
    assert tables_named_after(target) == []
    assert [b["BackupName"] for b in backups_named_after(live)] == ["before-release"]


# --- The list ------------------------------------------------------------------------------


def test_the_list_says_when_there_is_nothing_yet(live: str, support_console: Client) -> None:  # noqa: F811
    shown = text(support_console.get(BACKUPS))
    assert f"{live} has no backups yet." in shown
    assert f"No restored copies of {live}." in shown


def test_backups_are_listed_newest_first_a_page_at_a_time(
    live: str,  # noqa: F811
    support_console: Client,
) -> None:
    for number in range(backup_views.PAGE_SIZE + 1):
        make_backup(live, f"b{number:03d}")

    first = text(support_console.get(BACKUPS))
    assert f"{backup_views.PAGE_SIZE + 1} in all, newest first" in first
    assert "Page 1 of 2" in first
    assert first.index("b020") < first.index("b019")
    assert "b000" not in first
    assert re.search(r"123 bytes about \d+ AVAILABLE", first)  # items: DescribeBackup's count
    second = text(support_console.get(BACKUPS, {"page": "2"}))
    assert "b000" in second
    assert "b001" not in second

    for bad in ("3", "0", "-1", "two", "9" * 40):
        shown = text(support_console.get(BACKUPS, {"page": bad}))
        assert f"There is no page {bad[:20]!r} of backups: showing the first page." in shown
        assert "b020" in shown


def test_the_list_says_when_point_in_time_recovery_is_off(
    live: str,  # noqa: F811
    admin_console: Client,
) -> None:
    client("dynamodb").update_continuous_backups(
        TableName=live, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    response = admin_console.get(BACKUPS)
    assert response.status_code == 200
    assert f"Point-in-time recovery is off for {live}" in text(response)
    assert f'href="{PITR}"' not in response.content.decode()


def test_the_list_survives_aws_refusing(live: str, support_console: Client) -> None:  # noqa: F811
    unreachable = EndpointConnectionError(endpoint_url="https://dynamodb.example")
    with (
        mock.patch.object(backups, "list_backups", side_effect=backups.BackupError("refused")),
        mock.patch.object(backups, "restored_tables", side_effect=unreachable),
    ):
        response = support_console.get(BACKUPS)
    assert response.status_code == 200
    shown = text(response)
    assert "The backups could not be listed. refused" in shown
    assert "The restored copies could not be listed. AWS could not be reached" in shown


def test_a_copy_still_restoring_says_so(live: str, admin_console: Client) -> None:  # noqa: F811
    backup("restore-pitr", "--at=latest", "--target", restored(live), "--yes", "--actor=t")
    describe = backups.table_info

    def restoring(name: str) -> backups.TableInfo:
        return replace(describe(name), status="CREATING", restore_in_progress=True)

    with mock.patch.object(backups, "table_info", restoring):
        page = admin_console.get(BACKUPS)
    shown = text(page)
    assert "CREATING restore still running" in shown
    assert "verify once ACTIVE" in shown
    assert f'name="table" value="{restored(live)}"' not in page.content.decode()


# --- Create ---------------------------------------------------------------------------------


def test_create_backup_shows_in_the_list_and_the_audit_log(
    live: str,  # noqa: F811
    admin: User,
    admin_console: Client,
) -> None:
    name = unique_name()

    response = admin_console.post(CREATE, {"name": name}, follow=True)

    assert response.redirect_chain == [(BACKUPS, 302)]
    shown = text(response)
    assert f"Backup {name} of {live} started: it is AVAILABLE." in shown
    assert name in shown.split("Backups of", 1)[1]
    (made,) = backups_named_after(live)
    assert made["BackupName"] == name
    (entry,) = entries(name, "backup_create")
    assert (entry.actor, entry.result, entry.target) == (admin.username, "ok", name)
    assert entry.detail.as_dict() == {"source": live, "backup_arn": made["BackupArn"]}


def test_create_without_a_name_uses_the_default(live: str, admin_console: Client) -> None:  # noqa: F811
    admin_console.post(CREATE, {"name": "  "})
    (made,) = backups_named_after(live)
    assert re.fullmatch(r"manual-\d{8}T\d{6}Z", made["BackupName"])
    assert entries(made["BackupName"], "backup_create")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("ab", "Backup name 'ab' is not valid: use 3-255 characters"),
        ("with space", "is not valid: use 3-255 characters, each a letter, digit"),
        ("é-accent", "Backup name 'é-accent' is not valid"),
        ("semi;colon", "is not valid"),
        ("x" * 256, "Ensure this value has at most 255 characters (it has 256)."),
        ("x" * 5000, "Ensure this value has at most 255 characters (it has 5000)."),
        ("nul\x00byte", "Null characters are not allowed."),
    ],
)
def test_create_refuses_bad_names(
    live: str,  # noqa: F811
    admin_console: Client,
    name: str,
    message: str,
) -> None:
    response = admin_console.post(CREATE, {"name": name})
    assert response.status_code == 400
    shown = text(response)
    assert message in shown
    assert f"Backups of {live}" in shown  # the page, with the form to correct
    assert backups_named_after(live) == []


def test_create_says_when_aws_refuses(live: str, admin_console: Client) -> None:  # noqa: F811
    name = unique_name()
    denied = backups.BackupError("Backing up table x failed: AccessDeniedException: no")
    denied.aws_code = "AccessDeniedException"
    with mock.patch.object(backups, "create_backup", side_effect=denied):
        response = admin_console.post(CREATE, {"name": name})
    assert response.status_code == 502
    assert "No backup was taken. Backing up table x failed: AccessDeniedException" in text(response)
    (entry,) = entries(name, "backup_create")
    assert (entry.result, entry.detail["error"]) == ("failed", "BackupError")


# --- Restore from a backup ----------------------------------------------------------------------


def test_restore_page_shows_the_backup_and_asks_for_the_name(
    live: str,  # noqa: F811
    admin_console: Client,
) -> None:
    arn = make_backup(live, "before-release")

    response = admin_console.get(RESTORE, {"backup": arn})

    assert response.status_code == 200
    shown, page = text(response), response.content.decode()
    assert "Name before-release" in shown
    assert f"Of table {live}" in shown
    assert re.search(r"Items about \d+ \(DynamoDB's estimate at backup time\)", shown)
    assert arn in shown
    target = re.search(r'name="target" id="[^"]+" [^>]*value="([^"]*)"', page)
    assert target
    assert target.group(1).startswith(f"{live}-restored-20")
    assert re.search(r'name="confirm" id="[^"]+" [^>]*value=""', page)
    assert "Type the new table's name to confirm" in shown


def test_restore_with_the_name_typed_starts_a_restore_into_a_new_table(
    live: str,  # noqa: F811
    admin: User,
    admin_console: Client,
) -> None:
    arn = make_backup(live, "before-release")
    target = restored(live, "console")

    response = admin_console.post(RESTORE, restore_form(arn, target), follow=True)

    assert response.redirect_chain == [(BACKUPS, 302)]
    shown = text(response)
    assert f"Restore from backup before-release into {target} started: it is ACTIVE." in shown
    assert table_status(target) == "ACTIVE"
    assert backups.verify(live, target).equal
    (entry,) = entries(target, "backup_restore")
    assert (entry.actor, entry.result) == (admin.username, "ok")
    assert entry.detail.as_dict() == {
        "source": arn,
        "backup_name": "before-release",
        "source_table": live,
        "target": target,
    }
    copies = shown.split("Restored copies", 1)[1]
    assert f"{target} ACTIVE backup before-release" in copies


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Type the new table's name to confirm: nothing was started."),
        ("   ", "Type the new table's name to confirm: nothing was started."),
        ("wrong", "You typed 'wrong', but the new table is '{target}': type its name exactly"),
        ("{upper}", "but the new table is '{target}': type its name exactly to confirm."),
        ("{target}-x", "but the new table is '{target}'"),
        ("x" * 300, "Ensure this value has at most 255 characters (it has 300)."),
    ],
)
def test_restore_needs_the_exact_name_typed(
    live: str,  # noqa: F811
    admin_console: Client,
    typed: str,
    message: str,
) -> None:
    arn = make_backup(live, "before-release")
    target = restored(live)
    names = {"target": target, "upper": target.upper()}

    response = admin_console.post(RESTORE, restore_form(arn, target, typed.format(**names)))

    assert response.status_code == 400
    assert message.format(**names) in text(response)
    assert tables_named_after(live) == [live]
    assert entries(target, "backup_restore") == []


def test_restore_refuses_an_existing_table(live: str, admin_console: Client) -> None:  # noqa: F811
    arn = make_backup(live, "before-release")
    taken = restored(live, "taken")
    client("dynamodb").create_table(**table_spec(taken))

    response = admin_console.post(RESTORE, restore_form(arn, taken))

    assert response.status_code == 400
    assert f"Table {taken} already exists: restores always create a new table." in text(response)
    assert backups.digest_table(taken).items == 0
    assert entries(taken, "backup_restore") == []


@pytest.mark.parametrize(
    ("suffix", "message"),
    [
        ("", "is the live table: a restore never writes over it"),
        ("-copy", "must be named '{live}-restored-<suffix>': the Lambda's IAM policy"),
        ("-restored-", "must be named"),
        ("-restored-bad name", "is not valid: use 3-255 characters"),
        ("-restored-é", "is not valid"),
    ],
)
def test_restore_refuses_targets_that_are_not_new_restored_tables(
    live: str,  # noqa: F811
    admin_console: Client,
    suffix: str,
    message: str,
) -> None:
    arn = make_backup(live, "before-release")
    before = backups.digest_table(live)

    response = admin_console.post(RESTORE, restore_form(arn, live + suffix))

    assert response.status_code == 400
    assert message.format(live=live) in text(response)
    assert tables_named_after(live) == [live]
    assert backups.digest_table(live) == before


def test_restore_explains_missing_bogus_and_foreign_backups(
    live: str,  # noqa: F811
    admin_console: Client,
) -> None:
    arn = make_backup(live, "before-release")
    unknown = arn.rsplit("/", 1)[0] + "/01795861607519-9a407fd2"
    other = f"{live}-other"
    client("dynamodb").create_table(**table_spec(other))
    foreign = backups.create_backup(other, "theirs").arn
    cases = [
        ({}, 400, "Choose the backup to restore from the list of backups."),
        ({"backup": "  "}, 400, "Choose the backup to restore"),
        ({"backup": "arn:aws:s3:::bucket"}, 400, "is not a DynamoDB backup ARN"),
        ({"backup": "ü" * 40}, 400, "is not a DynamoDB backup ARN"),
        ({"backup": "a" * 5000}, 400, "That is not a DynamoDB backup ARN (it is far too long)."),
        ({"backup": unknown}, 404, f"No backup {unknown}"),
        ({"backup": foreign}, 400, f"is of table {other}: the console restores only backups"),
    ]
    for data, status, message in cases:
        for response in (
            admin_console.get(RESTORE, data),
            admin_console.post(
                RESTORE, {**data, "target": restored(live), "confirm": restored(live)}
            ),
        ):
            assert response.status_code == status, (data, response.content[:300])
            assert message in text(response), data
            assert 'name="confirm"' not in response.content.decode()
    assert tables_named_after(live) == [live, other]


# --- Restore to a point in time -----------------------------------------------------------------


def test_point_in_time_page_shows_the_window(live: str, admin_console: Client) -> None:  # noqa: F811
    earliest, latest = backups.restorable_window(live)

    response = admin_console.get(PITR)

    assert response.status_code == 200
    shown = text(response)
    assert f"Earliest {backup_views.utc_text(earliest)}" in shown
    assert f"Latest {backup_views.utc_text(latest)}" in shown
    page = response.content.decode()
    assert re.search(r'name="at" id="[^"]+" [^>]*value="latest"', page)


def test_point_in_time_restore_latest(live: str, admin: User, admin_console: Client) -> None:  # noqa: F811
    target = restored(live, "pitr")

    response = admin_console.post(PITR, pitr_form("latest", target), follow=True)

    assert response.redirect_chain == [(BACKUPS, 302)]
    shown = text(response)
    assert f"Restore of {live} as it was at the latest restorable time into {target}" in shown
    assert table_status(target) == "ACTIVE"
    (entry,) = entries(target, "backup_restore_pitr")
    assert (entry.actor, entry.result) == (admin.username, "ok")
    assert entry.detail.as_dict() == {"source": live, "point": "latest", "target": target}
    assert f"{target} ACTIVE point in time" in shown.split("Restored copies", 1)[1]


@pytest.mark.parametrize("spelling", ["rfc3339", "naive", "space"])
def test_point_in_time_restore_to_a_time_in_the_window(
    live: str,  # noqa: F811
    admin_console: Client,
    spelling: str,
) -> None:
    earliest, _ = backups.restorable_window(live)
    at = {
        "rfc3339": rfc3339(earliest),
        "naive": earliest.replace(tzinfo=None).isoformat(),  # UTC without an offset
        "space": earliest.replace(tzinfo=None).isoformat(sep=" "),
    }[spelling]
    target = restored(live, spelling)

    response = admin_console.post(PITR, pitr_form(at, target))

    assert response.status_code == 302, text(response)
    assert table_status(target) == "ACTIVE"
    (entry,) = entries(target, "backup_restore_pitr")
    assert entry.detail["point"] == rfc3339(earliest)


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ("yesterday", "'yesterday' is not a time: give 'latest' or a UTC time"),
        ("2026-13-05T10:00:00Z", "is not a time"),
        ("", "This field is required."),
        ("x" * 65, "Ensure this value has at most 64 characters"),
        ("\uff12\uff10\uff12\uff16-01-05T10:00:00Z", "is not a time"),  # fullwidth digits
    ],
)
def test_point_in_time_restore_refuses_bad_times(
    live: str,  # noqa: F811
    admin_console: Client,
    at: str,
    message: str,
) -> None:
    response = admin_console.post(PITR, pitr_form(at, restored(live)))
    assert response.status_code == 400
    assert message in text(response)
    assert tables_named_after(live) == [live]


@pytest.mark.parametrize("offset", [timedelta(days=-1), timedelta(days=1)])
def test_point_in_time_restore_refuses_times_outside_the_window(
    live: str,  # noqa: F811
    admin_console: Client,
    offset: timedelta,
) -> None:
    earliest, _ = backups.restorable_window(live)
    response = admin_console.post(PITR, pitr_form(rfc3339(earliest + offset), restored(live)))
    assert response.status_code == 400
    assert "is outside the restorable window" in text(response)
    assert tables_named_after(live) == [live]


def test_point_in_time_restore_needs_the_name_typed_and_a_new_table(
    live: str,  # noqa: F811
    admin_console: Client,
) -> None:
    target = restored(live)
    mistyped = admin_console.post(PITR, pitr_form("latest", target, target + "x"))
    assert mistyped.status_code == 400
    assert "type its name exactly to confirm. Nothing was started." in text(mistyped)
    over_live = admin_console.post(PITR, pitr_form("latest", live))
    assert over_live.status_code == 400
    assert "is the live table: a restore never writes over it" in text(over_live)
    assert tables_named_after(live) == [live]
    assert entries(target, "backup_restore_pitr") == []


def test_point_in_time_restore_when_recovery_is_off(live: str, admin_console: Client) -> None:  # noqa: F811
    client("dynamodb").update_continuous_backups(
        TableName=live, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    page = admin_console.get(PITR)
    assert page.status_code == 200
    assert "Point-in-time recovery is off" in text(page)
    assert 'name="at"' not in page.content.decode()
    posted = admin_console.post(PITR, pitr_form("latest", restored(live)))
    assert posted.status_code == 409
    assert "Point-in-time recovery is off" in text(posted)
    assert tables_named_after(live) == [live]


# --- Verify -------------------------------------------------------------------------------------


def test_verify_shows_equal_counts_and_checksums(
    live: str,  # noqa: F811
    admin: User,
    admin_console: Client,
) -> None:
    backup("restore-pitr", "--at=latest", "--target", restored(live), "--yes", "--actor=t")
    digest = backups.digest_table(live)

    response = admin_console.post(VERIFY, {"table": restored(live)})

    assert response.status_code == 200
    shown = text(response)
    assert "Equal: both tables hold the same 6 items." in shown
    assert f"{live} (live) 6 {digest.checksum}" in shown
    assert f"{restored(live)} 6 {digest.checksum}" in shown
    (entry,) = entries(restored(live), "backup_verify")
    assert (entry.actor, entry.result) == (admin.username, "ok")
    assert entry.detail.as_dict() == {
        "source": live,
        "target": restored(live),
        "equal": "yes",
        "items": "6 / 6",
    }


def test_verify_shows_a_difference(live: str, admin_console: Client) -> None:  # noqa: F811
    backup("restore-pitr", "--at=latest", "--target", restored(live), "--yes", "--actor=t")
    client("dynamodb").put_item(TableName=live, Item=goal_item(99))

    response = admin_console.post(VERIFY, {"table": restored(live)})

    assert response.status_code == 200
    assert "Different: 7 and 6 items, checksums differ." in text(response)
    (entry,) = entries(restored(live), "backup_verify")
    assert (entry.detail["equal"], entry.detail["items"]) == ("no", "7 / 6")


def test_verify_says_a_copy_still_restoring_is_not_ready(
    live: str,  # noqa: F811
    admin_console: Client,
) -> None:
    backup("restore-pitr", "--at=latest", "--target", restored(live), "--yes", "--actor=t")
    describe = backups.table_info

    def restoring(name: str) -> backups.TableInfo:
        info = describe(name)
        return replace(info, status="CREATING") if name == restored(live) else info

    with mock.patch.object(backups, "table_info", restoring):
        response = admin_console.post(VERIFY, {"table": restored(live)})

    assert response.status_code == 409
    assert f"{restored(live)} is still CREATING: the restore is not finished" in text(response)
    assert entries(restored(live), "backup_verify") == []


def test_verify_sends_large_tables_to_the_command(live: str, admin_console: Client) -> None:  # noqa: F811
    backup("restore-pitr", "--at=latest", "--target", restored(live), "--yes", "--actor=t")
    with mock.patch.object(backup_views, "VERIFY_MAX_BYTES", -1):
        response = admin_console.post(VERIFY, {"table": restored(live)})
    assert response.status_code == 409
    assert f"Verify from an operator machine: `manage.py backup verify {restored(live)}`" in text(
        response
    )


@pytest.mark.parametrize(
    ("table", "status", "message"),
    [
        ("", 400, "This field is required."),
        ("{live}", 400, "is not a restored copy of {live}"),
        ("other-table", 400, "is not a restored copy of"),
        ("{live}-restored-", 400, "is not a restored copy of"),
        ("{live}-restored-é", 400, "is not a valid table name"),
        ("{live}-restored-" + "x" * 300, 400, "Ensure this value has at most 255 characters"),
        ("{live}-restored-none", 404, "No table {live}-restored-none"),
    ],
)
def test_verify_refuses_bad_tables(
    live: str,  # noqa: F811
    admin_console: Client,
    table: str,
    status: int,
    message: str,
) -> None:
    response = admin_console.post(VERIFY, {"table": table.format(live=live)})
    assert response.status_code == status
    shown = text(response)
    assert "Not verified." in shown
    assert message.format(live=live) in shown


# --- What the function's role allows ------------------------------------------------------------


BACKUP_OPERATIONS = {
    "ListBackups",
    "ListTables",
    "DescribeBackup",
    "DescribeTable",
    "DescribeContinuousBackups",
    "CreateBackup",
    "RestoreTableFromBackup",
    "RestoreTableToPointInTime",
    "Scan",
}


def test_the_lambda_policy_allows_the_console_backup_pages(
    live: str,  # noqa: F811
    admin_console: Client,
    recorded: list[Call],  # noqa: F811
) -> None:
    """Every backup request the pages make is granted to the function. (The
    session and audit requests go to the session's own table, not to the
    scratch live table the policy is rendered for: the API's flow covers them.)"""
    admin_console.post(CREATE, {"name": "before-release"})
    arn = backups_named_after(live)[0]["BackupArn"]
    admin_console.get(RESTORE, {"backup": arn})
    admin_console.post(RESTORE, restore_form(arn, restored(live, "a")))
    admin_console.get(PITR)
    admin_console.post(PITR, pitr_form("latest", restored(live, "b")))
    admin_console.post(VERIFY, {"table": restored(live, "a")})
    admin_console.get(BACKUPS)

    calls = [call for call in recorded if call.operation in BACKUP_OPERATIONS]
    denied = denied_requests(calls, table=live, user_pool_id=f"{REGION}_Example1")
    assert not denied, denied
    assert {call.operation for call in calls} == BACKUP_OPERATIONS


# --- `manage.py backup` writes the same audit entries ---------------------------------------------


def test_backup_create_records_the_actor_given(live: str) -> None:  # noqa: F811
    name = unique_name("cli")
    backup("create", "--name", name, "--actor", "x")
    (entry,) = entries(name, "backup_create")
    assert (entry.actor, entry.result) == ("x", "ok")
    assert entry.detail.as_dict() == {
        "source": live,
        "backup_arn": backups_named_after(live)[0]["BackupArn"],
    }


def test_backup_create_records_the_os_user_by_default(live: str) -> None:  # noqa: F811
    name = unique_name("cli")
    backup("create", "--name", name)
    (entry,) = entries(name, "backup_create")
    assert entry.actor == f"cli:{getpass.getuser()}"


def test_backup_restores_record_audit_entries(live: str) -> None:  # noqa: F811
    make_backup(live, "before-release")
    backup("restore", "before-release", "--target", restored(live, "a"), "--yes", "--actor=oncall")
    backup(
        "restore-pitr", "--at=latest", "--target", restored(live, "b"), "--yes", "--actor=oncall"
    )
    (from_backup,) = entries(restored(live, "a"), "backup_restore")
    (to_point,) = entries(restored(live, "b"), "backup_restore_pitr")
    assert (from_backup.actor, from_backup.detail["backup_name"]) == ("oncall", "before-release")
    assert (to_point.actor, to_point.detail["point"]) == ("oncall", "latest")


def test_backup_dry_runs_record_nothing(live: str) -> None:  # noqa: F811
    name = unique_name("cli")
    make_backup(live, "before-release")
    backup("create", "--name", name, "--dry-run", "--actor=x")
    backup("restore", "before-release", "--target", restored(live), "--dry-run")
    backup("restore-pitr", "--at=latest", "--target", restored(live, "b"), "--dry-run")
    assert audit.entries_about(name).entries == []
    assert audit.entries_about(restored(live)).entries == []
    assert audit.entries_about(restored(live, "b")).entries == []


def test_backup_inside_lambda_needs_an_actor(live: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "ai-lifestyle-app-prod")
    name = unique_name("cli")
    refused("create", "--name", name, match="No OS user name to record as the actor: pass --actor")
    refused(
        "restore-pitr", "--at=latest", "--target", restored(live), "--yes", match="pass --actor"
    )
    assert backups_named_after(live) == []
    assert tables_named_after(live) == [live]
    backup("create", "--name", name, "--dry-run")  # a dry run records nothing: no actor needed
    backup("create", "--name", name, "--actor=oncall-alice")
    assert entries(name, "backup_create")[0].actor == "oncall-alice"


@pytest.mark.parametrize("actor", ["", "   ", "tab\there", "x" * 129])
def test_backup_refuses_an_actor_it_cannot_record(live: str, actor: str) -> None:  # noqa: F811
    refused("create", "--actor", actor, match="The actor must be 1-128 printable characters")
    assert backups_named_after(live) == []
