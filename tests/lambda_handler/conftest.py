"""Zappa's Lambda handler, run here as Lambda runs it.

Zappa packages a generated ``zappa_settings`` module beside its handler;
``settings_module`` writes one for the dev stage of zappa_settings.json
(pointing at the test settings) on ``sys.path``. Each test starts with no
``LambdaHandler`` instance, as a cold container does, and leaves behind
nothing the handler changes in the process (environment, log levels,
Django's script prefix).

``Gateway`` turns the request a client sends to a URL into the event API
Gateway hands the function: a REST API proxy event (payload 1.0) or an
HTTP API event (payload 2.0), for the execute-api host (stage in the URL)
or a custom domain (no stage). ``Gateway.send`` refuses a URL that would
not reach that API, so following a wrong ``Location`` fails.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal
from unittest import mock
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit

import pytest
from django.conf import settings
from django.test.utils import override_settings
from django.urls import clear_script_prefix

from tests.conftest import User

ZAPPA_JSON = Path(__file__).resolve().parents[2] / "zappa_settings.json"
STAGE = "dev"
API_ID = "abc123"
REGION = "us-east-1"
ACCOUNT = "123456789012"
EXECUTE_API_HOST = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
CUSTOM_DOMAIN = "api.lifestyle.example"
CLIENT_IP = "203.0.113.7"
USER_AGENT = "Lifestyle-iOS/1.4 CFNetwork/1490"
# Lambda proxy responses API Gateway accepts; any other key is a 502.
REST_RESPONSE_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
HTTP_RESPONSE_KEYS = REST_RESPONSE_KEYS | {"cookies"}
TEXT_TYPES = ("text/", "application/json")


def dev_stage() -> dict[str, Any]:
    return dict(json.loads(ZAPPA_JSON.read_text())[STAGE])


@pytest.fixture(scope="session")
def settings_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The ``zappa_settings`` module Zappa generates for the dev stage, with
    the test settings. No APP_MODULE: its mere presence means "not Django"."""
    stage = dev_stage()
    values: dict[str, Any] = {
        "API_STAGE": STAGE,
        "PROJECT_NAME": stage["project_name"],
        "DJANGO_SETTINGS": "lifestyle.settings.test",
        "DEBUG": stage["debug"],
        "LOG_LEVEL": stage["log_level"],
        "BINARY_SUPPORT": stage.get("binary_support", True),
        "CONTEXT_HEADER_MAPPINGS": {},
        "DOMAIN": None,
        "BASE_PATH": None,
        "ENVIRONMENT_VARIABLES": {},
        "EXCEPTION_HANDLER": None,
        "AWS_EVENT_MAPPING": {},
        "AWS_BOT_EVENT_MAPPING": {},
        "COGNITO_TRIGGER_MAPPING": {},
    }
    directory = tmp_path_factory.mktemp("zappa")
    source = "".join(f"{name} = {value!r}\n" for name, value in values.items())
    (directory / "zappa_settings.py").write_text("# Generated for tests\n" + source)
    sys.path.insert(0, str(directory))
    yield values
    sys.path.remove(str(directory))
    sys.modules.pop("zappa_settings", None)


def forget_handler() -> None:
    """Drop Zappa's cached ``LambdaHandler``: the next event is a cold start."""
    from zappa.handler import LambdaHandler

    LambdaHandler._LambdaHandler__instance = None


def warm_handler() -> Any:
    """The cached ``LambdaHandler`` instance, or None before the first event."""
    from zappa.handler import LambdaHandler

    return LambdaHandler._LambdaHandler__instance


@pytest.fixture(autouse=True)
def cold_container(settings_module: dict[str, Any]) -> Iterator[None]:
    """A fresh handler per test; afterwards, undo what the handler changes
    process-wide: environment variables, the root and Zappa log levels
    (set from LOG_LEVEL) and Django's script prefix (set per request)."""
    from zappa import handler

    loggers = (logging.getLogger(), handler.logger)
    levels = [logger.level for logger in loggers]
    hosts = [*settings.ALLOWED_HOSTS, CUSTOM_DOMAIN, f".execute-api.{REGION}.amazonaws.com"]
    forget_handler()
    clear_script_prefix()
    try:
        with mock.patch.dict(os.environ), override_settings(ALLOWED_HOSTS=hosts):
            yield
    finally:
        forget_handler()
        clear_script_prefix()
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def lambda_context() -> SimpleNamespace:
    """The attributes of the context object Lambda's Python runtime passes."""
    stage = dev_stage()
    name = f"{stage['project_name']}-{STAGE}"
    return SimpleNamespace(
        function_name=name,
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
        memory_limit_in_mb=stage["memory_size"],
        aws_request_id=str(uuid.uuid4()),
        log_group_name=f"/aws/lambda/{name}",
        log_stream_name="2026/11/28/[$LATEST]0123456789abcdef",
        get_remaining_time_in_millis=lambda: 30_000,
    )


def invoke(event: dict[str, Any]) -> Any:
    """What Lambda does with an event: hand it to Zappa's handler, and send
    back a result that survives JSON serialisation."""
    from zappa.handler import lambda_handler

    result = lambda_handler(event, lambda_context())
    json.dumps(result)
    return result


@dataclass
class Reply:
    """An API Gateway response as the client sees it."""

    status_code: int
    headers: dict[str, str]
    content: bytes
    base64_encoded: bool
    cookies: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> str:
        return self.headers[name.lower()]

    def get(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def content_type(self) -> str:
        return self.get("Content-Type") or ""


@dataclass(frozen=True)
class Gateway:
    """One way clients reach the function: an API type, a host, a stage."""

    payload: Literal["1.0", "2.0"]
    host: str = EXECUTE_API_HOST
    stage: str = STAGE
    # The execute-api host serves a named stage under /{stage}; a custom
    # domain (and an HTTP API's $default stage) serves it at the root.
    stage_in_url: bool = True

    @property
    def base_url(self) -> str:
        return f"https://{self.host}" + (f"/{self.stage}" if self.stage_in_url else "")

    def url(self, path: str, query: list[tuple[str, str]] | None = None) -> str:
        return self.base_url + path + (f"?{urlencode(query)}" if query else "")

    def event(
        self,
        method: str,
        url: str,
        *,
        token: str | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        encode: bool | None = None,
        accept: str = "application/json",
        headers: dict[str, str] | None = None,
        cookies: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The event for ``method url``. ``encode`` says whether API Gateway
        base64-encodes the body; by default as deployed: a Zappa REST API has
        binaryMediaTypes ``*/*`` (every body encoded), an HTTP API encodes
        all but text. ``cookies`` arrive as a Cookie header (REST API) or as
        the event's ``cookies`` list (HTTP API)."""
        extra_headers = headers or {}
        parts = urlsplit(url)
        prefix = f"/{self.stage}" if self.stage_in_url else ""
        assert (parts.scheme, parts.netloc) == ("https", self.host), f"{url} is not on {self}"
        assert parts.path.startswith(f"{prefix}/"), f"{url} does not reach stage {self.stage}"
        headers = {
            "Host": self.host,
            "Accept": accept,
            "User-Agent": USER_AGENT,
            "X-Amzn-Trace-Id": "Root=1-6748a1b2-0123456789abcdef01234567",
            "X-Forwarded-For": CLIENT_IP,
            "X-Forwarded-Port": "443",
            "X-Forwarded-Proto": "https",
        }
        headers.update(extra_headers)
        cookie_pairs = [f"{name}={value}" for name, value in (cookies or {}).items()]
        if cookie_pairs and self.payload == "1.0":
            headers["Cookie"] = "; ".join(cookie_pairs)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if content_type:
            headers["Content-Type"] = content_type
        if encode is None:
            encode = self.payload == "1.0" or not (content_type or "").startswith(TEXT_TYPES)
        payload: dict[str, Any] = {"body": None, "isBase64Encoded": False}
        if body is not None:
            text = base64.b64encode(body).decode() if encode else body.decode()
            payload = {"body": text, "isBase64Encoded": encode}
        query: dict[str, list[str]] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            query.setdefault(name, []).append(value)
        context = {
            "accountId": ACCOUNT,
            "apiId": API_ID,
            "domainName": self.host,
            "domainPrefix": self.host.split(".")[0],
            "requestId": str(uuid.uuid4()),
            "stage": self.stage,
        }
        if self.payload == "1.0":
            return self._rest_event(method, parts.path, prefix, query, headers, context) | payload
        if body is not None:
            headers["Content-Length"] = str(len(body))
        event = self._http_event(method, parts, query, headers, context) | payload
        if cookie_pairs:
            event["cookies"] = cookie_pairs
        return event

    @staticmethod
    def _rest_event(
        method: str,
        path: str,
        prefix: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        context: dict[str, Any],
    ) -> dict[str, Any]:
        """A REST API ``{proxy+}`` event: ``path`` is without the stage."""
        route = path.removeprefix(prefix)
        return {
            "resource": "/{proxy+}",
            "path": route,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {name: [value] for name, value in headers.items()},
            # The single-value map keeps the last of repeated parameters.
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": {"proxy": route.lstrip("/")},
            "stageVariables": None,
            "requestContext": {
                **context,
                "resourceId": "a1b2c3",
                "resourcePath": "/{proxy+}",
                "httpMethod": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "identity": {"sourceIp": CLIENT_IP, "userAgent": USER_AGENT, "userArn": None},
            },
        }

    @staticmethod
    def _http_event(
        method: str,
        parts: SplitResult,
        query: dict[str, list[str]],
        headers: dict[str, str],
        context: dict[str, Any],
    ) -> dict[str, Any]:
        """An HTTP API event: ``rawPath`` is the path as the client sent it."""
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": parts.path,
            "rawQueryString": parts.query,
            "headers": {name.lower(): value for name, value in headers.items()},
            "requestContext": {
                **context,
                "routeKey": "$default",
                "http": {
                    "method": method,
                    "path": parts.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": CLIENT_IP,
                    "userAgent": USER_AGENT,
                },
            },
        }
        if query:
            # HTTP APIs comma-join repeated parameters in this map.
            event["queryStringParameters"] = {k: ",".join(v) for k, v in query.items()}
        return event

    def send(self, method: str, url: str, **kwargs: Any) -> Reply:
        """Send ``method url`` through Zappa's handler; the client's view of the reply."""
        result = invoke(self.event(method, url, **kwargs))
        allowed = REST_RESPONSE_KEYS if self.payload == "1.0" else HTTP_RESPONSE_KEYS
        assert set(result) <= allowed, f"API Gateway rejects a response with {set(result)}"
        headers = {name.lower(): value for name, value in result.get("headers", {}).items()}
        cookies = result.get("cookies", [])
        if self.payload == "1.0":
            multi = result["multiValueHeaders"]
            assert {name.lower(): values[-1] for name, values in multi.items()} == headers
            cookies = next((v for k, v in multi.items() if k.lower() == "set-cookie"), [])
        body = result.get("body") or ""
        encoded = bool(result.get("isBase64Encoded"))
        return Reply(
            status_code=result["statusCode"],
            headers=headers,
            content=base64.b64decode(body) if encoded else body.encode(),
            base64_encoded=encoded,
            cookies=cookies,
        )

    def get(self, path: str, user: User | None = None, **query: str) -> Reply:
        token = user.access_token if user else None
        return self.send("GET", self.url(path, list(query.items())), token=token)

    def post(self, path: str, user: User, body: bytes, content_type: str, **kwargs: Any) -> Reply:
        return self.send(
            "POST",
            self.url(path),
            token=user.access_token,
            body=body,
            content_type=content_type,
            **kwargs,
        )

    def post_json(self, path: str, user: User, body: Any) -> Reply:
        return self.post(path, user, json.dumps(body).encode(), "application/json")


REST = Gateway("1.0")
HTTP = Gateway("2.0")
GATEWAYS = {
    "rest": REST,
    "rest-custom-domain": Gateway("1.0", host=CUSTOM_DOMAIN, stage_in_url=False),
    "http": HTTP,
    "http-default-stage": Gateway("2.0", stage="$default", stage_in_url=False),
    "http-custom-domain": Gateway("2.0", host=CUSTOM_DOMAIN, stage_in_url=False),
}


@pytest.fixture(params=["rest", "http"])
def gateway(request: pytest.FixtureRequest) -> Gateway:
    """The execute-api URL with its stage, as a REST API and as an HTTP API."""
    return GATEWAYS[request.param]
