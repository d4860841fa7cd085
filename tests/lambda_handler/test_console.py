"""The staff console through Zappa's handler, as API Gateway serves it: the
stylesheet is served by the function itself (WhiteNoise) under the stage
prefix, and a sign-in works end to end: several cookies set in one
response, sent back as API Gateway passes them, CSRF checked over HTTPS,
redirects kept inside the stage.
"""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urljoin, urlsplit

import pytest

from tests.conftest import User, make_user
from tests.lambda_handler.conftest import GATEWAYS, Gateway, Reply

STYLESHEET = re.compile(r'<link rel="stylesheet" href="([^"]+)"')
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture
def admin(aws_stack: dict[str, str]) -> User:
    return make_user(aws_stack, "ops-admin")


class Browser:
    """Just enough of a browser: a cookie jar and the headers a form post carries."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.jar: dict[str, str] = {}

    def _keep(self, reply: Reply) -> Reply:
        for header in reply.cookies:
            for name, morsel in SimpleCookie(header).items():
                assert morsel["path"] == "/"
                if not morsel.value:  # Django's deletion: empty and already expired
                    self.jar.pop(name, None)
                    continue
                assert morsel["secure"], f"{name} must be Secure over HTTPS"
                assert morsel["httponly"], f"{name} must be HttpOnly"
                self.jar[name] = morsel.value
        return reply

    def get(self, path: str) -> Reply:
        return self._keep(
            self.gateway.send("GET", self.gateway.url(path), accept="text/html", cookies=self.jar)
        )

    def post(self, path: str, form: str) -> Reply:
        url = self.gateway.url(path)
        origin = f"https://{self.gateway.host}"
        return self._keep(
            self.gateway.send(
                "POST",
                url,
                body=form.encode(),
                content_type="application/x-www-form-urlencoded",
                accept="text/html",
                cookies=self.jar,
                headers={"Origin": origin, "Referer": url},
            )
        )


@pytest.mark.parametrize("name", GATEWAYS)
def test_the_console_stylesheet_is_served_under_the_stage(name: str) -> None:
    gateway = GATEWAYS[name]
    page = gateway.send("GET", gateway.url("/ops/sign-in"), accept="text/html")
    assert page.status_code == 200

    link = STYLESHEET.search(page.content.decode())
    assert link is not None
    stage_path = urlsplit(gateway.base_url).path
    assert link.group(1) == f"{stage_path}/static/ops_admin/console.css"
    css_url = urljoin(gateway.url("/ops/sign-in"), link.group(1))
    css = gateway.send("GET", css_url, accept="text/css")
    assert css.status_code == 200
    assert css.content_type.startswith("text/css")
    assert b".topbar" in css.content


@pytest.mark.parametrize("name", ["rest", "http", "http-custom-domain"])
def test_staff_sign_in_and_out_through_api_gateway(name: str, admin: User) -> None:
    gateway = GATEWAYS[name]
    stage_path = urlsplit(gateway.base_url).path
    browser = Browser(gateway)

    first = browser.get("/ops/health")
    assert first.status_code == 302
    assert first["Location"].startswith(f"{stage_path}/ops/sign-in?next=")
    page = browser.get("/ops/sign-in")
    token = CSRF_FIELD.search(page.content.decode())
    assert token is not None
    assert "csrftoken" in browser.jar

    form = urlencode(
        {
            "csrfmiddlewaretoken": token.group(1),
            "username": admin.username,
            "password": admin.password,
            "next": f"{stage_path}/ops/health",
        }
    )
    signed_in = browser.post("/ops/sign-in", form)

    assert signed_in.status_code == 302, signed_in.content
    assert signed_in["Location"] == f"{stage_path}/ops/health"
    assert {"ops_session", "messages"} <= set(browser.jar)  # two cookies in one response
    health = browser.get("/ops/health")
    assert health.status_code == 200
    assert admin.username in health.content.decode()

    token = CSRF_FIELD.search(health.content.decode())
    assert token is not None
    out = browser.post("/ops/sign-out", f"csrfmiddlewaretoken={token.group(1)}")
    assert out.status_code == 302
    assert out["Location"] == f"{stage_path}/ops/sign-in"
    assert "ops_session" not in browser.jar
    assert browser.get("/ops/health").status_code == 302


def test_a_form_posted_from_another_site_is_refused(admin: User) -> None:
    gateway = GATEWAYS["rest"]
    browser = Browser(gateway)
    page = browser.get("/ops/sign-in")
    token = CSRF_FIELD.search(page.content.decode())
    assert token is not None

    reply = gateway.send(
        "POST",
        gateway.url("/ops/sign-in"),
        body=f"csrfmiddlewaretoken={token.group(1)}&username=a&password=b".encode(),
        content_type="application/x-www-form-urlencoded",
        accept="text/html",
        cookies=browser.jar,
        headers={"Origin": "https://evil.example", "Referer": "https://evil.example/"},
    )

    assert reply.status_code == 403
    assert "This form could not be accepted" in reply.content.decode()
