"""Staff members and signed-in console clients for the console's tests."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import User, make_user

SIGN_IN = "/ops/sign-in"


@pytest.fixture
def support(aws_stack: dict[str, str]) -> User:
    """A member of ops-support."""
    return make_user(aws_stack, "ops-support")


@pytest.fixture
def admin(aws_stack: dict[str, str]) -> User:
    """A member of ops-admin."""
    return make_user(aws_stack, "ops-admin")


def console_for(user: User, *, enforce_csrf: bool = False) -> Client:
    """A browser-like client signed in to the console as ``user``."""
    browser = Client(enforce_csrf_checks=enforce_csrf)
    if enforce_csrf:
        browser.get(SIGN_IN)
        token = browser.cookies["csrftoken"].value
        data = {"username": user.username, "password": user.password}
        response = browser.post(SIGN_IN, {**data, "csrfmiddlewaretoken": token})
    else:
        response = browser.post(SIGN_IN, {"username": user.username, "password": user.password})
    assert response.status_code == 302, response.content.decode()
    return browser


@pytest.fixture
def support_console(support: User) -> Client:
    return console_for(support)


@pytest.fixture
def admin_console(admin: User) -> Client:
    return console_for(admin)
