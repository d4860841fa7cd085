"""What the in-process benchmarks share: our app behind Zappa's Lambda
handler, AWS answered by moto inside this process, and DynamoDB answers
recorded once and replayed without moto.

:func:`start` provisions in-process moto with the product's own code, signs a
user in (a real Cognito token: the JWKS moto publishes is saved to a file
a loopback HTTP server publishes for the verifier through
``COGNITO_JWKS_URL``, since moto in-process answers ``requests`` and PyJWT
uses ``urllib``), and writes the ``zappa_settings``
module Zappa generates at deploy time. :func:`invoke` then hands an API
Gateway event to ``zappa.handler.lambda_handler`` exactly as Lambda does.

:class:`Recorder` keeps every DynamoDB HTTP answer a request got;
:class:`Canned` answers later requests with those bytes instead of moto,
below botocore (which still builds, signs and parses each call): what is
left is our own code's cost.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TextIO
from unittest import mock

STAGE = "dev"
HOST = "abc123.execute-api.us-east-1.amazonaws.com"
PASSWORD = "Bench-password-1"
# The deployment's variables, for the stand-in stack every benchmark builds.
AWS_ENVIRONMENT = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "DYNAMODB_TABLE": "bench-goals",
    "AWS_STORAGE_BUCKET_NAME": "bench-attachments",
    "COGNITO_USER_POOL_NAME": "bench-users",
    "DJANGO_SECRET_KEY": "bench-only-secret",
    "DJANGO_ALLOWED_HOSTS": ".amazonaws.com",
}
# Generous limits: a benchmark sends thousands of requests a minute as one
# user, and the counter's write is measured all the same.
ENVIRONMENT = {
    **AWS_ENVIRONMENT,
    "RATE_LIMIT_READ": "1000000/60",
    "RATE_LIMIT_WRITE": "1000000/60",
    "DJANGO_SETTINGS_MODULE": "lifestyle.settings.base",
}
ZAPPA_SETTINGS = {
    "API_STAGE": STAGE,
    "PROJECT_NAME": "ai-lifestyle-app",
    "DEBUG": False,
    "LOG_LEVEL": "INFO",  # as deployed: one request log line each
    "BINARY_SUPPORT": True,
    "CONTEXT_HEADER_MAPPINGS": {},
    "DOMAIN": None,
    "BASE_PATH": None,
    "ENVIRONMENT_VARIABLES": {},
    "EXCEPTION_HANDLER": None,
    "AWS_EVENT_MAPPING": {},
    "AWS_BOT_EVENT_MAPPING": {},
    "COGNITO_TRIGGER_MAPPING": {},
}


@dataclass
class Stack:
    """The provisioned stand-in: its table, pool and the users signed in."""

    table: str
    user_pool_id: str
    app_client_id: str
    scratch: Path
    _mock: Any = None
    tokens: dict[str, str] = field(default_factory=dict)  # user id -> access token

    def user(self, name: str) -> tuple[str, str]:
        """A new Cognito user, signed in: ``(user_id, access_token)``."""
        import jwt

        from lifestyle.provisioning import ensure_user, sign_in

        username = f"{name}-{uuid.uuid4().hex[:8]}"
        ensure_user(
            self.user_pool_id, username=username, password=PASSWORD, email=f"{username}@x.io"
        )
        token = sign_in(self.app_client_id, username, PASSWORD)["AccessToken"]
        user_id = str(jwt.decode(token, options={"verify_signature": False})["sub"])
        self.tokens[user_id] = token
        return user_id, token

    def stop_moto(self) -> None:
        """From here on nothing answers AWS calls but :class:`Canned`."""
        if self._mock is not None:
            self._mock.stop()
            self._mock = None


def start() -> Stack:
    """moto in this process, provisioned; Django set up with our settings;
    Zappa's settings module on ``sys.path``."""
    os.environ.update(ENVIRONMENT)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from moto import mock_aws

    from lifestyle.local_aws import make_moto_faithful

    make_moto_faithful()  # transactions copy their own items, not the table
    moto = mock_aws()
    moto.start()
    import django
    import requests
    from django.conf import settings

    django.setup()
    from lifestyle.provisioning import provision

    stack_info = provision()
    scratch = Path(tempfile.mkdtemp(prefix="lifestyle-bench-"))
    region = settings.AWS_REGION
    jwks_url = (
        f"https://cognito-idp.{region}.amazonaws.com/{stack_info.user_pool_id}"
        "/.well-known/jwks.json"
    )
    jwks = scratch / "jwks.json"
    jwks.write_text(requests.get(jwks_url, timeout=5).text)
    settings.COGNITO_USER_POOL_ID = stack_info.user_pool_id
    settings.COGNITO_APP_CLIENT_ID = stack_info.app_client_id
    settings.COGNITO_JWKS_URL = serve_folder(scratch) + "/jwks.json"
    write_zappa_settings(scratch, ENVIRONMENT["DJANGO_SETTINGS_MODULE"])
    return Stack(
        table=stack_info.table,
        user_pool_id=stack_info.user_pool_id,
        app_client_id=stack_info.app_client_id,
        scratch=scratch,
        _mock=moto,
    )


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Not a line per request on the benchmark's output."""


def serve_folder(folder: Path) -> str:
    """A loopback HTTP server for ``folder``'s files, in a daemon thread: its URL."""
    handler = partial(_QuietFiles, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def zappa_settings_source(django_settings: str, log_level: str = "INFO") -> str:
    """The ``zappa_settings`` module Zappa generates beside its handler."""
    values = {**ZAPPA_SETTINGS, "DJANGO_SETTINGS": django_settings, "LOG_LEVEL": log_level}
    return "".join(f"{name} = {value!r}\n" for name, value in values.items())


def write_zappa_settings(folder: Path, django_settings: str) -> None:
    """That module in ``folder``, first on ``sys.path`` for this process."""
    (folder / "zappa_settings.py").write_text(zappa_settings_source(django_settings))
    sys.path.insert(0, str(folder))
    sys.modules.pop("zappa_settings", None)


def event(
    method: str,
    path: str,
    token: str,
    body: Any = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A REST API proxy event, as API Gateway sends for ``method path``."""
    all_headers = {
        "Host": HOST,
        "Accept": "application/json",
        "Authorization": f"Bearer {token}",
        "User-Agent": "Lifestyle-iOS/1.4",
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Proto": "https",
        **(headers or {}),
    }
    payload: dict[str, Any] = {"body": None, "isBase64Encoded": False}
    if body is not None:
        all_headers["Content-Type"] = "application/json"
        payload = {"body": base64.b64encode(json.dumps(body).encode()).decode()}
        payload["isBase64Encoded"] = True
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "stage": STAGE,
            "requestId": str(uuid.uuid4()),
            "httpMethod": method,
            "path": f"/{STAGE}{path}",
            "resourcePath": "/{proxy+}",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "Lifestyle-iOS/1.4"},
        },
        **payload,
    }


CONTEXT = SimpleNamespace(
    function_name="ai-lifestyle-app-dev",
    function_version="$LATEST",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:ai-lifestyle-app-dev",
    memory_limit_in_mb=512,
    aws_request_id="bench",
    log_group_name="/aws/lambda/ai-lifestyle-app-dev",
    log_stream_name="bench",
    get_remaining_time_in_millis=lambda: 30_000,
)


def invoke(lambda_event: dict[str, Any]) -> dict[str, Any]:
    """What Lambda does with an event: Zappa's handler, our context object."""
    from zappa.handler import lambda_handler

    return dict(lambda_handler(lambda_event, CONTEXT))


def body_of(response: dict[str, Any]) -> Any:
    raw = response.get("body") or ""
    data = base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode()
    return json.loads(data) if data else None


@contextmanager
def quiet() -> Iterator[TextIO]:
    """File descriptors 1 and 2 to /dev/null: the request log (Django's
    console handler, on standard error as Lambda sends it to CloudWatch) is
    still formatted and written for every request, just not shown. Yields
    the real standard error, for progress lines."""
    sys.stdout.flush()
    sys.stderr.flush()
    report = os.fdopen(os.dup(2), "w", buffering=1)
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        yield report
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)
        report.close()


# --- DynamoDB calls: counted, recorded, replayed -------------------------------


@dataclass(frozen=True)
class Call:
    """One DynamoDB request and the HTTP answer it got."""

    operation: str
    params: dict[str, Any]
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def parsed(self) -> dict[str, Any]:
        return dict(json.loads(self.body or b"{}"))


def _key(params: dict[str, Any]) -> str:
    return json.dumps(params.get("Key"), sort_keys=True)


def _partition(params: dict[str, Any]) -> str:
    return json.dumps(params.get("Key", {}).get("pk"), sort_keys=True)


def _target(request: Any) -> str:
    target = request.headers.get("X-Amz-Target", b"")
    text = target.decode() if isinstance(target, bytes) else str(target)
    return text.rpartition(".")[2]


@contextmanager
def recording() -> Iterator[list[Call]]:
    """Every DynamoDB call made inside, in order, with moto's (or AWS's)
    answer as bytes."""
    from botocore.endpoint import Endpoint

    calls: list[Call] = []
    original = Endpoint._do_get_response

    def record(self: Endpoint, request: Any, operation_model: Any, context: Any) -> Any:
        result = original(self, request, operation_model, context)
        if operation_model.service_model.service_name == "dynamodb" and result[0] is not None:
            http_response, _ = result[0]
            calls.append(
                Call(
                    operation=operation_model.name,
                    params=json.loads(request.body or b"{}"),
                    status=http_response.status_code,
                    headers=dict(http_response.headers),
                    body=http_response.content,
                )
            )
        return result

    with mock.patch.object(Endpoint, "_do_get_response", record):
        yield calls


class _RawBody:
    """What botocore reads a response body from (urllib3's interface)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data

    def read(self, *_: Any) -> bytes:
        data, self._data = self._data, b""
        return data


class Canned:
    """Answers DynamoDB from recorded calls, in place of the network.

    A call naming an item (``Key``) gets the answer recorded for that
    operation on that item, or else on that partition (the rate-limit
    counter's key names its time window, which moves on); any other call
    gets the n-th recorded answer to its operation within the request
    (``next_request()`` starts the count again). A call not recorded at all,
    such as the revocation list's periodic refresh, gets an empty success:
    no item."""

    def __init__(self, calls: list[Call]) -> None:
        self._by_key: dict[tuple[str, str], Call] = {}
        self._by_partition: dict[tuple[str, str], Call] = {}
        self._by_order: dict[str, list[Call]] = defaultdict(list)
        for call in calls:
            if "Key" in call.params:
                self._by_key[call.operation, _key(call.params)] = call
                self._by_partition[call.operation, _partition(call.params)] = call
            else:
                self._by_order[call.operation].append(call)
        self._seen: Counter[str] = Counter()

    def next_request(self) -> None:
        self._seen.clear()

    def answer(self, request: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        operation = _target(request)
        params = json.loads(request.body or b"{}")
        call = None
        if "Key" in params:
            call = self._by_key.get((operation, _key(params))) or self._by_partition.get(
                (operation, _partition(params))
            )
        if call is None and "Key" not in params and self._by_order.get(operation):
            answers = self._by_order[operation]
            call = answers[self._seen[operation] % len(answers)]
            self._seen[operation] += 1
        if call is None:
            status, headers, body = 200, {"content-type": "application/x-amz-json-1.0"}, b"{}"
        else:
            status, headers, body = call.status, call.headers, call.body
        return AWSResponse(request.url, status, headers, _RawBody(body))

    @contextmanager
    def installed(self) -> Iterator[Canned]:
        with canned_dynamo(self.answer):
            yield self


@contextmanager
def canned_dynamo(answer: Callable[[Any], Any]) -> Iterator[None]:
    """Every DynamoDB request inside is answered by ``answer(request)``
    instead of being sent; any other AWS request is an error."""
    from botocore.endpoint import Endpoint

    def send(endpoint: Endpoint, request: Any) -> Any:
        if endpoint._endpoint_prefix != "dynamodb":
            raise RuntimeError(f"no canned answer for {endpoint._endpoint_prefix}")
        return answer(request)

    with mock.patch.object(Endpoint, "_send", send):
        yield


# --- Timing -------------------------------------------------------------------


def timed(action: Callable[[], Any]) -> float:
    """Milliseconds one call of ``action`` took."""
    started = time.perf_counter_ns()
    action()
    return (time.perf_counter_ns() - started) / 1e6


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def p50(values: list[float]) -> float:
    return percentile(values, 0.5)


def p99(values: list[float]) -> float:
    return percentile(values, 0.99)
