"""The runbook's security checklist, as automated checks of what can be
checked from here.

Three groups:

- **AWS**: the table's encryption (KMS) and point-in-time recovery; the
  bucket's versioning, default encryption and public-access block (all four
  flags). Findings come from :mod:`lifestyle.provisioning`, the one place
  the spec is written.
- **The running settings**: DEBUG off, a real secret key (Django's own
  deployment check, plus the keys the local and test settings use), the
  secret id set. These only mean something in a deployment: run locally
  (``lifestyle.settings.local``, DEBUG on by choice, a local key) they are
  *skipped* with that reason unless ``deployment=True`` (the command's
  ``--deployment``), which a Lambda implies.
- **The deployment configuration**: per stage of ``zappa_settings.json``,
  the settings Zappa would run (``lifestyle.settings.base`` loaded in a
  child process with the stage's environment: DEBUG off, hosts restricted),
  secrets left to Secrets Manager (``LIFESTYLE_SECRET_ID`` set, no secret
  in the environment), and the IAM policy template rendered for the stage
  and checked by :mod:`lifestyle.iam_policy` (scoped, and granting no
  provisioning). The Lambda package carries neither file, so inside the
  Lambda these are skipped.

The checklist items nothing here can see (API Gateway request validation,
CloudTrail, audits) are listed as skipped, with where to look instead.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings

from lifestyle.checks import Check, CheckFailed, CheckResult, CheckSkipped, require, run_checks
from lifestyle.iam_policy import (
    ROOT,
    ZAPPA_SETTINGS,
    PolicyError,
    is_allowed,
    policy_problems,
    render_policy,
    target_for_stage,
    zappa_stage,
)
from lifestyle.provisioning import (
    bucket_encryption,
    bucket_public_access_block,
    bucket_versioning,
    describe_table,
    table_encryption,
    table_point_in_time_recovery,
)
from lifestyle.secrets import SECRET_ID_VARIABLE

# The keys lifestyle/settings/local.py and test.py fall back on, and the one
# README's provisioning recipe passes: never a deployment's.
DEVELOPMENT_SECRET_KEYS = frozenset(
    {
        "local-only-secret-key-never-deployed",
        "test-only-secret-key-not-for-any-deployment",
        "unused",
    }
)
# Environment variable names that hold secrets: never in zappa_settings.json.
SECRET_VARIABLE = re.compile(r"SECRET_KEY|PASSWORD|TOKEN|PRIVATE", re.IGNORECASE)
# What the function must never be able to do to its own infrastructure
# (provision runs with an operator's credentials).
ADMIN_ACTIONS = (
    ("dynamodb:CreateTable", "table"),
    ("dynamodb:DeleteTable", "table"),
    ("dynamodb:UpdateTable", "table"),
    ("dynamodb:UpdateContinuousBackups", "table"),
    ("dynamodb:UpdateTimeToLive", "table"),
    ("s3:DeleteBucket", "bucket"),
    ("s3:PutBucketPolicy", "bucket"),
    ("s3:PutBucketPublicAccessBlock", "bucket"),
    ("s3:PutBucketVersioning", "bucket"),
    ("s3:PutEncryptionConfiguration", "bucket"),
    ("cognito-idp:CreateUserPoolClient", "pool"),
    ("cognito-idp:UpdateUserPoolClient", "pool"),
    ("iam:PassRole", "*"),
)
# For rendering the template when no real account is at hand: the check is
# about its shape, which does not depend on these.
PLACEHOLDER_ACCOUNT = "000000000000"


def in_lambda() -> bool:
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


# --- AWS ---------------------------------------------------------------------


def check_table_encryption() -> str:
    table = describe_table(settings.DYNAMODB_TABLE)
    if table is None:
        raise CheckFailed(f"no table {settings.DYNAMODB_TABLE}")
    return require(table_encryption(table))


def aws_checks() -> list[tuple[str, Check]]:
    table, bucket = settings.DYNAMODB_TABLE, settings.AWS_STORAGE_BUCKET_NAME
    return [
        ("table encryption at rest", check_table_encryption),
        ("table point-in-time recovery", lambda: require(table_point_in_time_recovery(table))),
        ("bucket versioning", lambda: require(bucket_versioning(bucket))),
        ("bucket encryption", lambda: require(bucket_encryption(bucket))),
        ("bucket public-access block", lambda: require(bucket_public_access_block(bucket))),
    ]


# --- The running settings ----------------------------------------------------


def _local(problem: str) -> CheckSkipped:
    return CheckSkipped(
        f"{problem}, as expected in {os.environ.get('DJANGO_SETTINGS_MODULE', 'these settings')} "
        "(--deployment judges them as a deployment's)"
    )


def check_debug(deployment: bool) -> str:
    if not settings.DEBUG:
        return "DEBUG is off"
    if deployment:
        raise CheckFailed("DEBUG is on: error pages would show settings and stack traces")
    raise _local("DEBUG is on")


def secret_key_problem() -> str | None:
    """Why the running ``SECRET_KEY`` is no deployment's, or None."""
    from django.core.checks.security.base import (
        SECRET_KEY_MIN_LENGTH,
        SECRET_KEY_MIN_UNIQUE_CHARACTERS,
        check_secret_key,
    )

    if settings.SECRET_KEY in DEVELOPMENT_SECRET_KEYS:
        return "the key is a development placeholder from this repository"
    if check_secret_key(None):  # Django's own deployment check (W009), on settings.SECRET_KEY
        return (
            f"the key is weak: Django wants at least {SECRET_KEY_MIN_LENGTH} characters, "
            f"{SECRET_KEY_MIN_UNIQUE_CHARACTERS} different, no 'django-insecure-' prefix"
        )
    return None


def check_secret_key(deployment: bool) -> str:
    problem = secret_key_problem()
    if problem is None:
        # Never the key itself, nor any part of it.
        return f"{len(settings.SECRET_KEY)} characters, not a known placeholder"
    if deployment:
        raise CheckFailed(problem)
    raise _local(problem.replace("the key is", "the secret key is"))


def check_secret_source(deployment: bool) -> str:
    secret_id = os.environ.get(SECRET_ID_VARIABLE, "").strip()
    if secret_id:
        return f"{SECRET_ID_VARIABLE}={secret_id}"
    if deployment:
        raise CheckFailed(f"{SECRET_ID_VARIABLE} is not set: secrets come from elsewhere")
    raise _local(f"{SECRET_ID_VARIABLE} is not set")


def settings_checks(deployment: bool) -> list[tuple[str, Check]]:
    return [
        ("settings: DEBUG off", lambda: check_debug(deployment)),
        ("settings: secret key", lambda: check_secret_key(deployment)),
        ("settings: secrets from Secrets Manager", lambda: check_secret_source(deployment)),
    ]


# --- The deployment configuration (zappa_settings.json, IAM template) ---------

# Prints what lifestyle.settings.base makes of the environment it is given.
_SETTINGS_PROBE = """
import json
from django.conf import settings
print(json.dumps({"DEBUG": settings.DEBUG, "ALLOWED_HOSTS": settings.ALLOWED_HOSTS}))
"""


def stage_settings(stage: str, path: Path = ZAPPA_SETTINGS) -> dict[str, Any]:
    """DEBUG and ALLOWED_HOSTS as ``lifestyle.settings.base`` sets them in
    the stage's Lambda: loaded in a child process whose environment is the
    stage's variables (the secret's key replaced by a stand-in; the secret
    itself is not fetched)."""
    config = zappa_stage(stage, path)
    environ = {
        name: value
        for name, value in config.get("environment_variables", {}).items()
        if name != SECRET_ID_VARIABLE
    }
    environ.update(
        {
            "PATH": os.environ.get("PATH", ""),
            "DJANGO_SETTINGS_MODULE": config["django_settings"],
            "DJANGO_SECRET_KEY": "stand-in: the stage's key comes from its secret",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    done = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", _SETTINGS_PROBE],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise CheckFailed(f"{config['django_settings']} does not load for {stage}: {last}")
    return dict(json.loads(done.stdout))


def check_stage_settings(stage: str, path: Path = ZAPPA_SETTINGS) -> str:
    config = zappa_stage(stage, path)
    problems = []
    if config.get("debug", True):
        problems.append('"debug" is not false (Zappa defaults to true)')
    loaded = stage_settings(stage, path)
    if loaded["DEBUG"]:
        problems.append("DEBUG is on")
    hosts = [str(host) for host in loaded["ALLOWED_HOSTS"]]
    if not hosts or "*" in hosts:
        problems.append(f"ALLOWED_HOSTS is {hosts!r}")
    if problems:
        raise CheckFailed("; ".join(problems))
    return f"DEBUG off, ALLOWED_HOSTS {', '.join(hosts)}"


def check_stage_secrets(stage: str, path: Path = ZAPPA_SETTINGS) -> str:
    environ = zappa_stage(stage, path).get("environment_variables", {})
    problems = []
    if not str(environ.get(SECRET_ID_VARIABLE, "")).strip():
        problems.append(f"{SECRET_ID_VARIABLE} is not set")
    leaked = sorted(name for name in environ if SECRET_VARIABLE.search(name))
    if leaked:
        problems.append(f"secrets in environment_variables: {', '.join(leaked)}")
    if problems:
        raise CheckFailed("; ".join(problems))
    return f"{SECRET_ID_VARIABLE}={environ[SECRET_ID_VARIABLE]}, no secret in the environment"


def _pool_id_for(region: str) -> str:
    configured = settings.COGNITO_USER_POOL_ID
    if configured.startswith(f"{region}_") and re.fullmatch(r"[\w-]+_[0-9A-Za-z]+", configured):
        return str(configured)
    return f"{region}_Placeholder"


def check_stage_policy(stage: str, path: Path = ZAPPA_SETTINGS) -> str:
    """The template renders for the stage into a scoped policy (render_policy
    refuses one with problems) that grants no provisioning; a policy already
    rendered for an account (deploy/lambda-policy.<stage>.json, what Zappa
    attaches) must pass the same checks."""
    region = zappa_stage(stage, path)["aws_region"]
    try:
        target = target_for_stage(
            stage,
            account_id=PLACEHOLDER_ACCOUNT,
            user_pool_id=_pool_id_for(region),
            settings_path=path,
        )
        policy = render_policy(target)
    except PolicyError as error:
        raise CheckFailed(f"the template does not render: {error}") from None
    resources = {
        "table": f"arn:aws:dynamodb:{region}:{PLACEHOLDER_ACCOUNT}:table/{target.table}",
        "bucket": f"arn:aws:s3:::{target.bucket}",
        "pool": f"arn:aws:cognito-idp:{region}:{PLACEHOLDER_ACCOUNT}:userpool/"
        f"{target.user_pool_id}",
        "*": "*",
    }
    granted = [
        action for action, kind in ADMIN_ACTIONS if is_allowed(policy, action, resources[kind])
    ]
    if granted:
        raise CheckFailed(f"the template grants provisioning: {', '.join(granted)}")
    detail = f"template scoped to {target.table}, {target.bucket}, {target.secret_name}"
    rendered = path.parent / "deploy" / f"lambda-policy.{stage}.json"
    if rendered.exists():
        try:
            problems = policy_problems(json.loads(rendered.read_text()))
        except ValueError:
            problems = ["not JSON"]
        if problems:
            raise CheckFailed(f"{rendered.name}: {'; '.join(problems)}")
        detail += f"; {rendered.name} well-formed"
    return detail


def stage_checks(
    stages: Sequence[str] | None = None, path: Path = ZAPPA_SETTINGS
) -> list[tuple[str, Check]]:
    if not path.exists():

        def absent() -> str:
            raise CheckSkipped(
                f"{path.name} is not here (not packaged into the Lambda): run security_check "
                "from a checkout to check the deployment configuration"
            )

        return [("deployment configuration", absent)]
    names = list(stages) if stages else list(json.loads(path.read_text()))
    checks: list[tuple[str, Check]] = []
    for stage in names:
        checks += [
            (f"stage {stage}: settings", functools.partial(check_stage_settings, stage, path)),
            (f"stage {stage}: secrets", functools.partial(check_stage_secrets, stage, path)),
            (f"stage {stage}: IAM policy", functools.partial(check_stage_policy, stage, path)),
        ]
    return checks


def zappa_stages(path: Path = ZAPPA_SETTINGS) -> list[str]:
    return list(json.loads(path.read_text())) if path.exists() else []


# --- What cannot be checked from here ------------------------------------------

NOT_CHECKABLE = {
    "API Gateway request validation": (
        "API Gateway proxies every request to Django, which validates each body "
        "(serializers, size and type limits) and is covered by the test suite"
    ),
    "CloudTrail logging": (
        "an account-level trail, outside this product's IAM policy: "
        "aws cloudtrail get-trail-status with the account's credentials"
    ),
    "regular security audits": "a process, not a setting",
}


def _skip(reason: str) -> Check:
    def check() -> str:
        raise CheckSkipped(f"not checked from here: {reason}")

    return check


def security_checks(
    *,
    deployment: bool | None = None,
    stages: Sequence[str] | None = None,
    zappa_settings: Path = ZAPPA_SETTINGS,
) -> list[tuple[str, Check]]:
    """Every check; ``deployment`` None means "only inside a Lambda"."""
    deployed = in_lambda() if deployment is None else deployment
    return [
        *aws_checks(),
        *settings_checks(deployed),
        *stage_checks(stages, zappa_settings),
        *[(name, _skip(reason)) for name, reason in NOT_CHECKABLE.items()],
    ]


def run_security_checks(
    *,
    deployment: bool | None = None,
    stages: Sequence[str] | None = None,
    zappa_settings: Path = ZAPPA_SETTINGS,
) -> list[CheckResult]:
    return run_checks(
        security_checks(deployment=deployment, stages=stages, zappa_settings=zappa_settings)
    )
