"""Every console page, filled with something to show, at 1280 px and on a
phone: it loads, its heading and the navigation are on screen, the document
never scrolls sideways (wide tables scroll inside their ``.table-wrap``),
and the browser met no problem on the way (no CSP violation, no failed
stylesheet). The server's tests check what the pages say; this checks that
a person can read them.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import pytest
from playwright.sync_api import ViewportSize, expect

from ops_admin import backups
from tests.browser.conftest import DESKTOP, PHONE, Tab
from tests.conftest import make_user

pytestmark = pytest.mark.browser

VIEWPORTS = pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280x800", "phone-390x844"])


def expect_readable(tab: Tab, path: str, heading: str, status: int = 200) -> None:
    response = tab.open(path)
    assert response.status == status, f"{path}: {response.status}"
    page = tab.page
    expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
    expect(page.get_by_role("navigation", name="Console")).to_be_in_viewport()
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert tab.fits_the_screen(), f"{path} scrolls sideways: {width}"


@VIEWPORTS
def test_every_page_fits_the_screen(
    open_tab: Callable[..., Tab],
    aws_stack: dict[str, str],
    live_table: str,
    viewport: ViewportSize,
) -> None:
    admin = make_user(aws_stack, "ops-admin")
    someone = make_user(aws_stack)
    goal = {"title": "Meditate every day", "kind": "count", "target": "1", "period": "daily"}
    assert someone.client().post("/api/v1/goals", goal, format="json").status_code == 201
    backup = backups.create_backup(live_table, "fits-the-screen")
    tab = open_tab(viewport=viewport)
    tab.sign_in(admin)

    expect_readable(tab, "/ops/users", "Users")
    expect_readable(tab, f"/ops/users?q={someone.username}", "Users")
    expect_readable(tab, f"/ops/users/{someone.username}", someone.username)
    expect_readable(tab, "/ops/backups", "Backups")
    expect_readable(tab, f"/ops/backups/restore?backup={quote(backup.arn)}", "Restore a backup")
    expect_readable(tab, "/ops/backups/restore-pitr", "Restore")
    expect_readable(tab, "/ops/health", "Health")
    expect_readable(tab, "/ops/audit", "Audit log")
    expect_readable(tab, "/ops/users/nobody-by-this-name", "No such user", status=404)
    expect_readable(tab, "/ops/audit?day=yesterday-ish", "Audit log", status=400)
    tab.assert_no_problems()


@VIEWPORTS
def test_support_sees_the_not_allowed_page_for_admin_work(
    open_tab: Callable[..., Tab], aws_stack: dict[str, str], viewport: ViewportSize
) -> None:
    support = make_user(aws_stack, "ops-support")
    tab = open_tab(viewport=viewport)
    tab.sign_in(support)

    tab.open("/ops/backups")
    expect(tab.page.get_by_role("button", name="Create backup")).to_have_count(0)
    expect_readable(tab, "/ops/backups/restore-pitr", "Not allowed", status=403)
    expect(tab.page.get_by_role("main")).to_contain_text("This needs the ops-admin group")
    expect(tab.page.locator(".who .badge")).to_have_text("ops-support")
    tab.assert_no_problems()
