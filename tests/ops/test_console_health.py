"""The console's Health page against the session's moto stack: the
``health_check`` and ``security_check`` checks as two tables, any staff
member may look, a failing or broken check is a red row and never a 500."""

from __future__ import annotations

import html
import re
from typing import Any
from unittest import mock

import pytest
from django.test import Client
from django.test.utils import override_settings

from lifestyle import security
from lifestyle.checks import CheckResult
from ops_admin.views.health import Summary
from tests.conftest import DynamoCalls
from tests.ops.conftest import SIGN_IN

HEALTH = "/ops/health"
HEALTH_CHECKS = ["table", "table point-in-time recovery", "table TTL", "bucket", "user pool"]


def rows(response: Any, table: str) -> dict[str, tuple[str, str, str]]:
    """The check rows of one table (``health`` or ``security``) by check
    name: (status, ms, detail) as the page shows them (HTML-unescaped)."""
    page = response.content.decode()
    section = page.split(f'aria-labelledby="{table}-title"', 1)[1].split("</section>", 1)[0]
    found = re.findall(
        r'<th scope="row" class="check-name">(.*?)</th>\s*'
        r'<td><span class="badge[^"]*">(.*?)</span></td>\s*'
        r'<td class="num">(.*?)</td>\s*'
        r'<td class="check-detail">(.*?)</td>',
        section,
        re.DOTALL,
    )
    return {
        html.unescape(name): (status, ms, html.unescape(detail))
        for name, status, ms, detail in found
    }


def badge_of(response: Any, name: str) -> str:
    """The badge class on check ``name``'s status."""
    page = response.content.decode()
    match = re.search(
        rf'<th scope="row" class="check-name">{re.escape(html.escape(name))}</th>\s*'
        r'<td><span class="badge ([^"]*)">',
        page,
    )
    assert match, name
    return match.group(1)


def summary(response: Any) -> str:
    page = response.content.decode()
    match = re.search(r'<p class="health-summary[^"]*" role="status">(.*?)</p>', page, re.DOTALL)
    assert match
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split())


# --- Who may look ----------------------------------------------------------------------


@pytest.mark.parametrize("console", ["support_console", "admin_console"])
def test_every_staff_role_sees_both_tables(request: pytest.FixtureRequest, console: str) -> None:
    browser: Client = request.getfixturevalue(console)

    response = browser.get(HEALTH)

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert "script-src" not in response["Content-Security-Policy"]
    health = rows(response, "health")
    assert list(health) == HEALTH_CHECKS
    assert {status for status, _, _ in health.values()} == {"ok"}
    security_rows = rows(response, "security")
    assert "table encryption at rest" in security_rows
    assert "bucket public-access block" in security_rows
    assert all(re.fullmatch(r"\d+\.\d", ms) for _, ms, _ in [*health.values()])
    assert 'aria-current="page">Health</a>' in response.content.decode()


def test_anonymous_visitors_are_sent_to_sign_in() -> None:
    response = Client().get(HEALTH)

    assert response.status_code == 302
    assert response["Location"] == f"{SIGN_IN}?next=%2Fops%2Fhealth"


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_page_only_reads(support_console: Client, method: str) -> None:
    response = getattr(support_console, method)(HEALTH)

    assert response.status_code == 405
    assert response["Allow"] == "GET"


def test_looking_writes_nothing(support_console: Client, dynamo_calls: DynamoCalls) -> None:
    dynamo_calls.reset()

    assert support_console.get(HEALTH).status_code == 200

    assert set(dynamo_calls()) <= {
        "DescribeTable",
        "DescribeContinuousBackups",
        "DescribeTimeToLive",
    }


# --- What the tables say ---------------------------------------------------------------


def test_the_healthy_stack_passes_with_details(
    support_console: Client, aws_stack: dict[str, str]
) -> None:
    response = support_console.get(HEALTH)

    health = rows(response, "health")
    assert health["table"][2].startswith(f"{aws_stack['table']} ACTIVE")
    assert health["bucket"][2] == f"{aws_stack['bucket']} reachable"
    assert f"({aws_stack['user_pool_id']})" in health["user pool"][2]
    assert badge_of(response, "table") == "badge-ok"
    assert "Health" in response.content.decode()


def test_run_locally_the_deployment_settings_are_skipped_grey(
    support_console: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)

    response = support_console.get(HEALTH)

    secret = rows(response, "security")["settings: secret key"]
    assert secret[0] == "skip"
    assert "development placeholder" in secret[2]
    assert badge_of(response, "settings: secret key") == "badge-skip"
    assert "settings only a deployment needs are skipped" in response.content.decode()
    assert summary(response).startswith("ok All ")
    assert summary(response).endswith(" skipped.")


def test_in_lambda_the_settings_are_judged_as_a_deployments(
    support_console: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "ai-lifestyle-app-prod")
    assert security.in_lambda()

    response = support_console.get(HEALTH)

    assert response.status_code == 200
    secret = rows(response, "security")["settings: secret key"]
    assert secret[0] == "FAIL"
    assert "development placeholder" in secret[2]
    assert badge_of(response, "settings: secret key") == "badge-bad"
    assert "judged as a deployment&#x27;s" in response.content.decode()
    assert "settings: secret key" in summary(response)


def test_a_missing_table_is_a_red_row_with_its_reason(support_console: Client) -> None:
    with override_settings(DYNAMODB_TABLE="console-missing-table"):
        response = support_console.get(HEALTH)

    assert response.status_code == 200
    health = rows(response, "health")
    assert health["table"][0] == "FAIL"
    assert health["table"][2] == "no table console-missing-table"
    assert "TableNotFoundException" in health["table point-in-time recovery"][2]
    assert badge_of(response, "table") == "badge-bad"
    assert health["bucket"][0] == health["user pool"][0] == "ok"
    assert rows(response, "security")["table encryption at rest"][0] == "FAIL"
    text = summary(response)
    assert text.startswith("FAIL ")
    assert re.match(r"FAIL \d+ checks fail \(table, table point-in-time recovery, table TTL", text)


def test_a_missing_bucket_fails_its_rows_only(support_console: Client) -> None:
    with override_settings(AWS_STORAGE_BUCKET_NAME="console-missing-bucket"):
        response = support_console.get(HEALTH)

    assert response.status_code == 200
    health = rows(response, "health")
    assert health["bucket"][::2] == ("FAIL", "no bucket console-missing-bucket")
    assert [name for name, row in health.items() if row[0] == "FAIL"] == ["bucket"]
    failed_security = [name for name, row in rows(response, "security").items() if row[0] == "FAIL"]
    assert failed_security == [
        "bucket versioning",
        "bucket encryption",
        "bucket public-access block",
    ]
    assert summary(response).startswith(
        "FAIL 4 checks fail (bucket, bucket versioning, bucket encryption, "
        "bucket public-access block), "
    )


def test_a_single_failure_reads_in_the_singular(support_console: Client) -> None:
    with (
        mock.patch("lifestyle.security.security_checks", return_value=[]),
        override_settings(COGNITO_USER_POOL_ID=""),
    ):
        response = support_console.get(HEALTH)

    assert summary(response) == "FAIL 1 check fails (user pool), 4 pass."
    assert rows(response, "security") == {}
    assert "No checks to run." in response.content.decode()
    assert rows(response, "health")["user pool"][2] == (
        "COGNITO_USER_POOL_ID is not set: no token can be accepted"
    )


def test_all_pass_reads_all_n_pass(support_console: Client) -> None:
    with mock.patch("lifestyle.security.security_checks", return_value=[]):
        response = support_console.get(HEALTH)

    assert summary(response) == "ok All 5 checks pass."


# --- A broken check never breaks the page ----------------------------------------------


def test_a_check_that_raises_is_a_failed_row_and_the_others_still_run(
    support_console: Client, caplog: pytest.LogCaptureFixture
) -> None:
    broken = mock.Mock(side_effect=RuntimeError("bucket answer was <b>odd</b>"))
    with mock.patch("lifestyle.health.check_bucket", broken):
        response = support_console.get(HEALTH)

    assert response.status_code == 200
    health = rows(response, "health")
    assert health["bucket"][0] == "FAIL"
    assert health["bucket"][2] == (
        "the check itself broke (RuntimeError: bucket answer was <b>odd</b>)"
    )
    assert "&lt;b&gt;odd&lt;/b&gt;" in response.content.decode()
    assert "<b>odd</b>" not in response.content.decode()
    assert health["table"][0] == health["user pool"][0] == "ok"
    assert "check 'bucket' raised" in caplog.text


def test_a_very_long_error_is_cut(support_console: Client) -> None:
    broken = mock.Mock(side_effect=ValueError("x" * 5000))
    with mock.patch("lifestyle.health.check_ttl", broken):
        response = support_console.get(HEALTH)

    detail = rows(response, "health")["table TTL"][2]
    assert detail.startswith("the check itself broke (ValueError: xxx")
    assert len(detail) < 400
    assert detail.endswith("…)")


def test_checks_that_cannot_even_be_listed_are_one_failed_row(support_console: Client) -> None:
    with mock.patch(
        "lifestyle.security.security_checks", side_effect=ValueError("zappa_settings.json: bad")
    ):
        response = support_console.get(HEALTH)

    assert response.status_code == 200
    assert rows(response, "security") == {
        "security checks": (
            "FAIL",
            "0.0",
            "the checks could not be listed (ValueError('zappa_settings.json: bad'))",
        )
    }
    assert {status for status, _, _ in rows(response, "health").values()} == {"ok"}


def test_botocore_errors_stay_aws_errors(support_console: Client) -> None:
    """run_check's own translation of AWS errors is kept, not replaced by
    "the check itself broke"."""
    from botocore.exceptions import EndpointConnectionError

    broken = mock.Mock(side_effect=EndpointConnectionError(endpoint_url="http://nowhere"))
    with mock.patch("lifestyle.health.check_user_pool", broken):
        response = support_console.get(HEALTH)

    pool = rows(response, "health")["user pool"]
    assert pool[0] == "FAIL"
    assert pool[2].startswith("EndpointConnectionError: Could not connect")


def test_a_skipped_security_check_is_grey(support_console: Client) -> None:
    response = support_console.get(HEALTH)

    cloudtrail = rows(response, "security")["CloudTrail logging"]
    assert cloudtrail[0] == "skip"
    assert cloudtrail[2].startswith("not checked from here")
    assert badge_of(response, "CloudTrail logging") == "badge-skip"


def test_the_page_tells_which_time_it_checked(support_console: Client) -> None:
    response = support_console.get(HEALTH)

    assert re.search(r'Checked <time datetime="\d{4}-\d\d-\d\dT', response.content.decode())
    assert f'href="{HEALTH}">Check again</a>' in response.content.decode()


@pytest.mark.parametrize(
    ("statuses", "text"),
    [
        ([], "No checks ran"),
        (["skip", "skip"], "No check failed, 2 skipped"),
        (["ok"], "The 1 check passes"),
        (["ok", "FAIL", "FAIL", "skip"], "2 checks fail (check 1, check 2), 1 pass, 1 skipped"),
    ],
)
def test_summary_wording(statuses: list[str], text: str) -> None:
    results = [CheckResult(f"check {n}", status, "", 0.0) for n, status in enumerate(statuses)]

    assert str(Summary.of(results)) == text
