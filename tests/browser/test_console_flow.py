"""Issue 6's whole flow in a browser: "sign in, find the demo user, disable
them, see their API token refused, enable them, create a backup, restore it
into a new table, see the audit entries."

One staff member does it all through the pages, clicking what a person
clicks; the API is called over HTTP with the user's real Cognito token, as
the app calls it. The live table is a scratch one (as in
``tests/ops/test_backups.py``), so backups and restores never touch the
session's table, and everything made is deleted afterwards.
"""

from __future__ import annotations

import re
import time

import pytest
import requests
from playwright.sync_api import expect

from lifestyle.provisioning import sign_in
from tests.browser.conftest import Tab
from tests.conftest import User, make_user
from tests.ops.test_backups import tables_named_after

pytestmark = pytest.mark.browser

GOAL = {
    "title": "Run 100 km this month",
    "kind": "amount",
    "target": "100",
    "unit": "km",
    "period": "monthly",
    "timezone": "Europe/Paris",
}


def api_status(live_url: str, token: str) -> int:
    response = requests.get(
        f"{live_url}/api/v1/goals", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    return response.status_code


def test_find_disable_enable_back_up_restore_and_audit(
    tab: Tab, live_url: str, live_table: str, aws_stack: dict[str, str]
) -> None:
    admin = make_user(aws_stack, "ops-admin")
    demo = make_user(aws_stack)
    created = requests.post(
        f"{live_url}/api/v1/goals",
        json=GOAL,
        headers={"Authorization": f"Bearer {demo.access_token}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    page = tab.page

    # Sign in, find the demo user.
    tab.sign_in(admin)
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    page.get_by_label("Username, email or sub").fill(demo.username)
    page.get_by_role("button", name="Search").click()
    found = page.get_by_role("link", name=demo.username, exact=True)
    expect(found).to_have_count(1)
    found.click()
    expect(page).to_have_url(re.compile(rf"/ops/users/{demo.username}$"))
    expect(page.get_by_role("heading", name=demo.username, level=1)).to_be_visible()
    expect(page.locator(".user-goal-count")).to_contain_text("1")

    # Disable them; their API token is refused.
    disable = page.get_by_role("form", name="Disable")
    disable.get_by_label("Reason").fill("Browser test: reported stolen phone")
    disable.get_by_role("button", name=f"Disable {demo.username}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Disabled {demo.username}")
    expect(page.locator(".page-head .badge").first).to_have_text("disabled")
    expect(page.locator(".user-access")).to_contain_text("Browser test: reported stolen phone")
    assert api_status(live_url, demo.access_token) == 401

    # Enable them: the old token stays refused, a new sign-in works.
    enable = page.get_by_role("form", name="Enable")
    enable.get_by_label("Reason").fill("Browser test: phone recovered")
    enable.get_by_role("button", name=f"Enable {demo.username}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Enabled {demo.username}")
    expect(page.locator(".page-head .badge").first).to_have_text("enabled")
    assert api_status(live_url, demo.access_token) == 401
    # Token times are whole seconds and the enable's own second stays
    # refused (ops_admin.revocations): sign in again from the next second.
    time.sleep(1.01 - time.time() % 1)
    fresh = sign_in(aws_stack["app_client_id"], demo.username, demo.password)["AccessToken"]
    assert api_status(live_url, fresh) == 200
    audit_about_demo = page.locator(".audit-entry .audit-action")
    expect(audit_about_demo).to_have_text(["enable_user", "disable_user"])

    # Create a backup of the live table.
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Backups").click()
    expect(page.get_by_role("heading", name="Backups", exact=True)).to_be_visible()
    page.get_by_label("Backup name").fill("before-browser-test")
    page.get_by_role("button", name="Create backup").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"Backup before-browser-test of {live_table} started"
    )
    backup_row = page.get_by_role("row").filter(has_text="before-browser-test")
    expect(backup_row).to_have_count(1)

    # Restore it into a new table, confirming the name typed twice.
    backup_row.get_by_role("link", name="Restore before-browser-test").click()
    expect(page.get_by_role("heading", name="Restore a backup")).to_be_visible()
    target = page.get_by_label("New table", exact=True).input_value()
    assert target.startswith(f"{live_table}-restored-")
    page.get_by_label("Type the new table's name to confirm").fill(target)
    page.get_by_role("button", name="Start restore").click()
    expect(page).to_have_url(re.compile(r"/ops/backups$"))
    expect(page.get_by_role("status")).to_contain_text(
        f"Restore from backup before-browser-test into {target} started"
    )
    copy_row = page.get_by_role("row").filter(has_text=target)
    expect(copy_row).to_have_count(1)
    assert target in tables_named_after(live_table)

    # The copy holds what the live table held (the demo user's goal and
    # their access record).
    copy_row.get_by_role("button", name=f"Verify {target}").click()
    expect(page.get_by_role("status")).to_contain_text("Equal: both tables hold the same")

    # The audit log shows all of it, newest first.
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Audit log").click()
    page.get_by_label("Actor").fill(admin.username)
    page.get_by_role("button", name="Show").click()
    rows = page.locator(".audit-entry")
    expect(rows.locator(".audit-action")).to_have_text(
        [
            "backup_verify",
            "backup_restore",
            "backup_create",
            "enable_user",
            "disable_user",
            "sign_in",
        ]
    )
    expect(rows.locator(".audit-target")).to_have_text(
        [target, target, "before-browser-test", demo.username, demo.username, admin.username]
    )
    for result in rows.locator(".badge").all():
        expect(result).to_have_text("ok")
    tab.assert_no_problems()


def test_a_disabled_user_can_be_found_by_email_and_is_shown_disabled(
    tab: Tab, live_table: str, aws_stack: dict[str, str]
) -> None:
    """The list shows who is disabled, so staff see it before opening the user."""
    support = make_user(aws_stack, "ops-support")
    target: User = make_user(aws_stack)
    tab.sign_in(support)
    tab.open(f"/ops/users/{target.username}")
    disable = tab.page.get_by_role("form", name="Disable")
    disable.get_by_label("Reason").fill("Browser test")
    disable.get_by_role("button", name=f"Disable {target.username}").click()
    expect(tab.page.get_by_role("status")).to_contain_text(f"Disabled {target.username}")

    tab.open("/ops/users")
    tab.page.get_by_label("Username, email or sub").fill(f"{target.username}@example.com")
    tab.page.get_by_role("button", name="Search").click()

    row = tab.page.locator(".user-row")
    expect(row).to_have_count(1)
    expect(row.locator(".user-name")).to_have_text(target.username)
    expect(row.get_by_text("disabled", exact=True)).to_be_visible()
    tab.assert_no_problems()
