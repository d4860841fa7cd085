"""The API fuzzed from its own OpenAPI schema (schemathesis + Hypothesis).

Every operation in ``/api/v1/schema/`` gets a bounded number of generated
requests, valid and invalid, sent in-process to the WSGI app with a real
user's token, against moto like every other test. Each response must:
not be a 5xx, match the status codes, content types, headers and bodies
the schema documents, and, for every error, have the API's one error shape.
Schema-invalid requests must be refused. Generated ids rarely name a
resource, so most item routes answer 404: the route-by-route tests cover
the paths behind them.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import negative_data_rejection

from lifestyle.wsgi import application
from tests.conftest import User

EXAMPLES_PER_OPERATION = 40

CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            # A PATCH without If-Match is 428 Precondition Required (RFC 6585).
            "missing_required_header": {"expected-statuses": [428]},
            # Refusals the API gives on top of 400: 412 when If-Match is
            # evaluated before the body (RFC 9110 13.2.2), 413 and 415.
            "negative_data_rejection": {
                "expected-statuses": [400, 401, 404, 405, 406, 409, 412, 413, 415, 428, 429]
            },
            # Valid-looking values the schema cannot judge (an opaque cursor,
            # an id that names nothing, dates in the wrong order) are refused
            # by design: not a finding.
            "positive_data_acceptance": {"enabled": False},
        }
    }
)
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application, config=CONFIG)

# The batch answers 200 with a per-item error for an invalid item: one bad
# item must not sink the others (tests/activities/test_batch.py covers the
# envelope's refusals).
PER_ITEM = {"POST /api/v1/activities:batch": [negative_data_rejection]}


@schemathesis.check
def error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx and 5xx is ``{"error": {"code": str, "message": str, ...}}``."""
    if response.status_code < 400:
        return None
    body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    assert isinstance(error, dict), f"not the error shape: {body!r}"
    for key in ("code", "message"):
        assert isinstance(error.get(key), str), f"no {key}: {body!r}"
        assert error[key], f"empty {key}: {body!r}"
    return True


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,  # the same requests every run: a failure reproduces
    suppress_health_check=list(HealthCheck),
)
def test_api(case: Any, user: User) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {user.access_token}"},
        additional_checks=[error_shape],
        excluded_checks=PER_ITEM.get(f"{case.method} {case.path}", []),
    )
