"""A real browser against the real console: Chromium, driven by Playwright,
signs in to the live Django server (``live_url``: a LiveServerThread over
the session's moto server) as a person would.

The browser is the system's Chromium (``apt-get install chromium``);
``playwright install`` downloads its own browsers and cannot run everywhere
these tests must. Without Chromium the browser tests are skipped with one
message, except in CI (``CI=true``, set by ``.ci/run``), where a missing
browser fails the run instead of quietly testing less.

A failing test leaves a full-page screenshot of each page it opened in
``test-artifacts/browser/`` (git-ignored); the failure report names it.

Three things a browser could trip over, checked once:

- The session cookie stays ``Secure``, as in production: Chromium counts
  http://127.0.0.1 as a potentially trustworthy origin and keeps Secure
  cookies there, so no cookie setting is overridden for these tests
  (``tests/ops/test_console_session.py`` checks the cookie is Secure).
- Playwright's sync API runs its asyncio loop in a greenlet of the test's
  thread, so ``asyncio.get_running_loop()`` answers there and Django's
  ``async_unsafe`` guard would refuse database calls. Django guards only
  database connections, the project has no database, and the live server
  answers in its own thread: ``DJANGO_ALLOW_ASYNC_UNSAFE`` is not needed
  and not set.
- The page's stylesheet must load (200, ``text/css``) and apply under its
  CSP: ``test_the_stylesheet_loads_under_the_pages_policy``. Every tab
  also records console errors (a CSP violation is one) and failed
  subresources, which the tests assert away with ``assert_no_problems``.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.test.utils import override_settings
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    Response,
    ViewportSize,
    sync_playwright,
)

from lifestyle.aws import client
from lifestyle.provisioning import table_spec
from tests.conftest import User
from tests.ops.test_backups import backups_named_after, tables_named_after

ROOT = Path(__file__).resolve().parent.parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "browser"
NO_CHROMIUM = (
    "no chromium: apt-get install chromium to run the console's browser tests; .ci/run installs it"
)
# The Debian package's binary first: /usr/bin/chromium is a wrapper script
# that reads /etc/chromium.d and adds flags of its own.
CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Headless, and nothing that talks to the network on its own (updates, sync,
# QUIC probes): the tests' only traffic is to the live server.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=390, height=844)
STYLESHEET = "/static/ops_admin/console.css"
SIGN_IN = "/ops/sign-in"
# Each step waits at most this long (Playwright's default is 30 s): the
# server is local, so a slower step is a bug, reported quickly.
STEP_TIMEOUT_MS = 10_000

_PAGES = pytest.StashKey[list[Page]]()


def find_chromium() -> str | None:
    """``CHROMIUM_PATH`` if set (and then it must be right), else the first
    Chromium found on this machine."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        if not os.access(configured, os.X_OK):
            pytest.fail(f"CHROMIUM_PATH={configured} is not an executable file")
        return configured
    for candidate in CHROMIUM_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Every browser test needs Chromium: without it, skip (raised here, not
    in a fixture, so the summary folds the skips into one line), or in CI
    fail."""
    if _chromium() is None:
        if in_ci():
            pytest.fail(f"{NO_CHROMIUM} (CI=true: a missing browser fails the run)")
        pytest.skip(NO_CHROMIUM)


@functools.cache
def _chromium() -> str | None:
    return find_chromium()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = _chromium()
    assert path is not None  # pytest_runtest_setup skipped the test otherwise
    return path


@pytest.fixture(scope="session")
def playwright(chromium_path: str) -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright, chromium_path: str) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@dataclass
class Tab:
    """One browser tab on the live console, and every problem it met: errors
    in the browser's console (a CSP violation is one) and requests that
    failed or answered 4xx/5xx for a stylesheet or image."""

    page: Page
    base_url: str
    problems: list[str] = field(default_factory=list)

    def open(self, path: str) -> Response:
        response = self.page.goto(self.base_url + path)
        assert response is not None, f"no response for {path}"
        return response

    def sign_in(self, user: User, password: str | None = None) -> None:
        self.open(SIGN_IN)
        self.page.get_by_label("Username").fill(user.username)
        self.page.get_by_label("Password").fill(password or user.password)
        self.page.get_by_role("button", name="Sign in").click()

    def sign_out(self) -> None:
        self.page.get_by_role("button", name="Sign out").click()

    def fits_the_screen(self) -> bool:
        """No horizontal scrolling of the document."""
        return bool(self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))

    def assert_no_problems(self) -> None:
        assert self.problems == [], "\n".join(self.problems)


def _watch(tab: Tab) -> None:
    page = tab.page

    def on_console(message: Any) -> None:
        # "Failed to load resource" repeats an HTTP status: the tests check a
        # page's own status, on_response a subresource's, and Chromium's own
        # request for /favicon.ico (the console has none) is no problem.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            tab.problems.append(f"console error on {page.url}: {message.text}")

    def on_response(response: Any) -> None:
        if response.request.resource_type in {"stylesheet", "image", "font"} and (
            response.status >= 400
        ):
            tab.problems.append(f"{response.status} for {response.url}")

    def on_request_failed(request: Any) -> None:
        # ERR_ABORTED: the test moved on while the browser still fetched
        # something for the page it left (its favicon, say): no problem of a page.
        if request.failure != "net::ERR_ABORTED":
            tab.problems.append(f"{request.url} failed: {request.failure}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("requestfailed", on_request_failed)


@pytest.fixture
def open_tab(
    browser: Browser, live_url: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Tab]]:
    """Opens a tab in a fresh browser context (its own cookies): desktop
    size unless told ``viewport=PHONE``, which also makes Chromium honour
    the page's viewport meta tag, as a phone's browser does."""
    contexts: list[BrowserContext] = []
    pages = request.node.stash.setdefault(_PAGES, [])

    def open_one(viewport: ViewportSize = DESKTOP) -> Tab:
        phone = viewport["width"] < 600
        context = browser.new_context(
            viewport=viewport, is_mobile=phone, has_touch=phone, device_scale_factor=1
        )
        context.set_default_timeout(STEP_TIMEOUT_MS)
        contexts.append(context)
        tab = Tab(context.new_page(), live_url)
        _watch(tab)
        pages.append(tab.page)
        return tab

    yield open_one
    for context in contexts:
        context.close()


@pytest.fixture
def tab(open_tab: Callable[..., Tab]) -> Tab:
    """A desktop-sized tab, not signed in."""
    return open_tab()


@pytest.fixture
def live_table(aws_stack: dict[str, str]) -> Iterator[str]:
    """A scratch table standing in for the live one, for the live server
    too (it runs in this process, so it sees the same settings).

    ``REVOCATION_CACHE_SECONDS=0``: the server rereads the revoked sign-ins
    on every request instead of within its usual few seconds, so "their
    token is refused" is checked at once, without sleeping."""
    name = f"ops-browser-{uuid.uuid4().hex[:10]}"
    dynamodb = client("dynamodb")
    dynamodb.create_table(**table_spec(name))
    dynamodb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    try:
        with override_settings(DYNAMODB_TABLE=name, REVOCATION_CACHE_SECONDS=0):
            yield name
    finally:
        for backup in backups_named_after(name):
            dynamodb.delete_backup(BackupArn=backup["BackupArn"])
        for table in tables_named_after(name):
            dynamodb.delete_table(TableName=table)


def _artifact_name(node_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", node_name).strip("-")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """On failure, a full-page screenshot of every page the test opened."""
    report = yield
    if report.when == "call" and report.failed:
        saved = []
        pages: list[Page] = item.stash.get(_PAGES, [])
        for number, page in enumerate(pages, start=1):
            if page.is_closed():
                continue
            suffix = "" if number == 1 else f"-{number}"
            path = ARTIFACTS / f"{_artifact_name(item.name)}{suffix}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                page.screenshot(path=str(path), full_page=True)
            except Exception as error:  # a crashed page must not hide the failure
                saved.append(f"no screenshot of {page.url}: {error}")
            else:
                saved.append(f"{path.relative_to(ROOT)} ({page.url})")
        if saved:
            report.sections.append(("browser screenshots", "\n".join(saved)))
    return report
