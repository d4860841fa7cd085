"""Signing in to the console in a real browser, and the console being usable
on a laptop and on a phone.

``tests/ops/test_console_session.py`` covers the server's side of each rule
with Django's test client; these tests check what only a browser shows:
the form works as typed into, the cookies it sets come back, the
stylesheet loads under the page's CSP, and nothing is cut off or scrolls
sideways at 1280 px or 390 px wide.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import ViewportSize, expect

from ops_admin.staff_auth import NOT_STAFF, WRONG_CREDENTIALS
from tests.browser.conftest import DESKTOP, PHONE, SIGN_IN, STYLESHEET, Tab
from tests.conftest import User, make_user

pytestmark = pytest.mark.browser

NAV = ["Users", "Backups", "Health", "Audit log"]


def expect_signed_in(tab: Tab, staff: User, role: str) -> None:
    page = tab.page
    expect(page).to_have_url(re.compile(r"/ops/users$"))
    nav = page.get_by_role("navigation", name="Console")
    expect(nav).to_be_visible()
    for name in NAV:
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="Users")).to_have_attribute("aria-current", "page")
    expect(page.locator(".who .badge")).to_have_text(role)
    expect(page.locator(".who-name")).to_have_text(staff.username)
    expect(page.get_by_role("status")).to_contain_text(f"Signed in as {staff.username} ({role})")


def test_the_stylesheet_loads_under_the_pages_policy(tab: Tab) -> None:
    with tab.page.expect_response(lambda response: STYLESHEET in response.url) as loading:
        tab.open(SIGN_IN)
    stylesheet = loading.value

    assert stylesheet.status == 200
    assert stylesheet.headers["content-type"].startswith("text/css")
    # Applied, not only fetched: the sign-in card has the stylesheet's white
    # background on its grey page.
    background = tab.page.locator(".card").evaluate(
        "card => getComputedStyle(card).backgroundColor"
    )
    assert background == "rgb(255, 255, 255)"
    tab.assert_no_problems()


@pytest.mark.parametrize("group", ["ops-admin", "ops-support"])
def test_staff_sign_in_land_on_the_console_and_sign_out(
    tab: Tab, aws_stack: dict[str, str], group: str
) -> None:
    staff = make_user(aws_stack, group)

    tab.sign_in(staff)

    expect_signed_in(tab, staff, group)
    # The production cookie, Secure included: Chromium keeps Secure cookies
    # for http://127.0.0.1, a potentially trustworthy origin.
    cookies = {cookie["name"]: cookie for cookie in tab.page.context.cookies()}
    session = cookies["ops_session"]
    assert (session["secure"], session["httpOnly"], session["sameSite"]) == (True, True, "Lax")

    tab.sign_out()

    expect(tab.page).to_have_url(re.compile(r"/ops/sign-in$"))
    expect(tab.page.get_by_role("status")).to_have_text("Signed out.")
    expect(tab.page.get_by_role("navigation", name="Console")).to_have_count(0)
    # The session is gone: the console sends the browser back to sign in.
    tab.open("/ops/users")
    expect(tab.page).to_have_url(re.compile(r"/ops/sign-in\?next=%2Fops%2Fusers$"))
    tab.assert_no_problems()


def test_signing_in_from_a_deep_link_returns_there(tab: Tab, aws_stack: dict[str, str]) -> None:
    staff = make_user(aws_stack, "ops-support")
    tab.open("/ops/health")
    expect(tab.page).to_have_url(re.compile(r"/ops/sign-in\?next=%2Fops%2Fhealth$"))

    tab.page.get_by_label("Username").fill(staff.username)
    tab.page.get_by_label("Password").fill(staff.password)
    tab.page.get_by_role("button", name="Sign in").click()

    expect(tab.page).to_have_url(re.compile(r"/ops/health$"))


def test_a_wrong_password_shows_the_message_and_keeps_the_username(
    tab: Tab, aws_stack: dict[str, str]
) -> None:
    staff = make_user(aws_stack, "ops-admin")

    tab.sign_in(staff, password="Not-the-password-1")

    expect(tab.page).to_have_url(re.compile(r"/ops/sign-in$"))
    expect(tab.page.get_by_role("alert")).to_have_text(WRONG_CREDENTIALS)
    expect(tab.page.get_by_label("Username")).to_have_value(staff.username)
    expect(tab.page.get_by_label("Password")).to_have_value("")
    assert "Not-the-password-1" not in tab.page.content()
    expect(tab.page.get_by_role("navigation", name="Console")).to_have_count(0)


def test_a_plain_user_is_told_it_is_not_a_staff_account(tab: Tab, user: User) -> None:
    tab.sign_in(user)

    expect(tab.page).to_have_url(re.compile(r"/ops/sign-in$"))
    expect(tab.page.get_by_role("alert")).to_have_text(NOT_STAFF)
    tab.open("/ops/users")
    expect(tab.page).to_have_url(re.compile(r"/ops/sign-in\?next="))


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280x800", "phone-390x844"])
def test_the_console_is_usable_on_a_laptop_and_on_a_phone(
    open_tab: Callable[..., Tab], aws_stack: dict[str, str], viewport: ViewportSize
) -> None:
    staff = make_user(aws_stack, "ops-admin")
    tab = open_tab(viewport=viewport)

    tab.open(SIGN_IN)
    assert tab.fits_the_screen()
    expect(tab.page.get_by_role("button", name="Sign in")).to_be_in_viewport()

    tab.sign_in(staff)

    expect_signed_in(tab, staff, "ops-admin")
    assert tab.page.evaluate("window.innerWidth") == viewport["width"]
    assert tab.fits_the_screen()
    nav = tab.page.get_by_role("navigation", name="Console")
    for name in NAV:
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_in_viewport()
    expect(tab.page.get_by_role("button", name="Sign out")).to_be_in_viewport()
    tab.assert_no_problems()
