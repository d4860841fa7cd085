"""The Lambda function's IAM policy, rendered per deployment.

``deploy/lambda-policy.template.json`` is committed with ``{{placeholders}}``
for what differs between AWS accounts (account id, user pool id) and between
stages (table, bucket, secret, function); :func:`render_policy` fills them in
and ``manage.py lambda_policy`` writes the file ``zappa_settings.json`` names
in ``attach_policy``. Zappa then puts it on the function's role *instead of*
its own broad default policy. Everything here is plain Python: no AWS call,
no Django settings.

:func:`is_allowed` is a small evaluator of identity-policy statements (Allow
and Deny, ``*``/``?`` wildcards, the ``String*`` condition operators) so
tests can prove the policy allows every request the code makes, and nothing
is granted by accident.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "lambda-policy.template.json"
ZAPPA_SETTINGS = ROOT / "zappa_settings.json"
PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")

# Actions AWS authorizes only with ``"Resource": "*"`` (no resource-level
# permissions): the only statements allowed to use it.
UNSCOPED_ACTIONS = frozenset(
    {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "dynamodb:ListBackups",
        "dynamodb:ListTables",  # names only: the console finds restored copies with it
    }
)

# Each value must match its pattern in full, which also keeps IAM wildcards
# (``*``, ``?``) and JSON out of the rendered ARNs.
PATTERNS = {
    "account_id": r"\d{12}",
    "region": r"[a-z]{2}(-[a-z]+)+-\d{1,2}",
    "function_name": r"[A-Za-z0-9_-]{1,64}",
    "table": r"[A-Za-z0-9_.-]{3,255}",
    "bucket": r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]",
    "user_pool_id": r"[a-z]{2}(-[a-z]+)+-\d{1,2}_[0-9A-Za-z]+",
    "secret_name": r"[A-Za-z0-9/_+=.@-]{1,512}",
}


class PolicyError(ValueError):
    """A value or template that cannot make a valid policy."""


@dataclass(frozen=True)
class PolicyTarget:
    """The concrete resources one deployment's function may touch."""

    account_id: str
    region: str
    function_name: str
    table: str
    bucket: str
    user_pool_id: str
    secret_name: str

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not re.fullmatch(PATTERNS[name], value):
                raise PolicyError(f"{name} {value!r} is not a valid {name.replace('_', ' ')}.")
        if not self.user_pool_id.startswith(f"{self.region}_"):
            raise PolicyError(
                f"user pool id {self.user_pool_id!r} is not in the region {self.region!r}."
            )


def zappa_stage(stage: str, path: Path = ZAPPA_SETTINGS) -> dict[str, Any]:
    """A stage of zappa_settings.json with ``extends`` merged as Zappa does
    (shallowly: a child's ``environment_variables`` replace the parent's)."""
    settings = json.loads(path.read_text())
    if stage not in settings:
        raise PolicyError(f"No stage {stage!r} in {path.name} (have: {', '.join(settings)}).")
    config = dict(settings[stage])
    parent = config.pop("extends", None)
    return {**zappa_stage(parent, path), **config} if parent else config


def target_for_stage(
    stage: str,
    *,
    account_id: str,
    user_pool_id: str,
    region: str | None = None,
    settings_path: Path = ZAPPA_SETTINGS,
) -> PolicyTarget:
    """The stage's resource names come from zappa_settings.json, the single
    place they are written; only the account and the pool id are given."""
    config = zappa_stage(stage, settings_path)
    env = config.get("environment_variables", {})
    missing = [
        name
        for name in ("DYNAMODB_TABLE", "AWS_STORAGE_BUCKET_NAME", "LIFESTYLE_SECRET_ID")
        if not env.get(name)
    ]
    if missing:
        raise PolicyError(f"Stage {stage!r} sets no {', '.join(missing)} in zappa_settings.json.")
    return PolicyTarget(
        account_id=account_id,
        region=region or config["aws_region"],
        # Zappa names the function "<project_name>-<stage>".
        function_name=f"{config['project_name']}-{stage}",
        table=env["DYNAMODB_TABLE"],
        bucket=env["AWS_STORAGE_BUCKET_NAME"],
        user_pool_id=user_pool_id,
        secret_name=env["LIFESTYLE_SECRET_ID"],
    )


def _fill(node: Any, values: Mapping[str, str]) -> Any:
    if isinstance(node, str):

        def value(match: re.Match[str]) -> str:
            if match.group(1) not in values:
                raise PolicyError(f"The template has an unknown placeholder {match.group(0)}.")
            return values[match.group(1)]

        return PLACEHOLDER.sub(value, node)
    if isinstance(node, list):
        return [_fill(item, values) for item in node]
    if isinstance(node, dict):
        return {key: _fill(item, values) for key, item in node.items()}
    return node


def render_policy(target: PolicyTarget, template: Path = TEMPLATE) -> dict[str, Any]:
    """The template with every placeholder filled (values are substituted
    inside JSON strings, never spliced into JSON text)."""
    policy = _fill(json.loads(template.read_text()), asdict(target))
    problems = policy_problems(policy)
    if problems:
        raise PolicyError("; ".join(problems))
    return dict(policy)


# --- Checking and evaluating ----------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(policy: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    yield from _as_list(policy.get("Statement", []))


def policy_problems(policy: Mapping[str, Any]) -> list[str]:
    """What makes ``policy`` not a well-formed, fully rendered, scoped policy."""
    problems: list[str] = []
    if policy.get("Version") != "2012-10-17":
        problems.append('Version must be "2012-10-17".')
    if PLACEHOLDER.search(json.dumps(policy)) or "{{" in json.dumps(policy):
        problems.append("placeholders are left unfilled.")
    sids: set[str] = set()
    for statement in statements(policy):
        sid = statement.get("Sid", "?")
        if sid in sids:
            problems.append(f"Sid {sid} is used twice.")
        sids.add(sid)
        unknown = set(statement) - {"Sid", "Effect", "Action", "Resource", "Condition"}
        if unknown:
            problems.append(f"{sid}: unsupported keys {sorted(unknown)}.")
        if statement.get("Effect") not in ("Allow", "Deny"):
            problems.append(f"{sid}: Effect must be Allow or Deny.")
        actions = _as_list(statement.get("Action", []))
        resources = _as_list(statement.get("Resource", []))
        if not actions or not resources:
            problems.append(f"{sid}: needs Action and Resource.")
        for action in actions:
            if not re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", action):
                problems.append(f"{sid}: action {action!r} is a wildcard or malformed.")
        if "*" in resources:
            broad = sorted(set(actions) - UNSCOPED_ACTIONS)
            if broad:
                problems.append(f"{sid}: Resource '*' for {broad}, which can be scoped.")
        for resource in resources:
            if resource != "*" and not resource.startswith("arn:aws:"):
                problems.append(f"{sid}: resource {resource!r} is not an ARN.")
    return problems


def _matches(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    if not case_sensitive:
        pattern, value = pattern.lower(), value.lower()
    # IAM wildcards are * and ?; fnmatch's [...] sets never occur in our ARNs.
    return fnmatchcase(value, pattern.replace("[", "[[]"))


def _condition_holds(condition: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    for operator, tests in condition.items():
        base, if_exists = operator.removesuffix("IfExists"), operator.endswith("IfExists")
        for key, expected in tests.items():
            if key not in context:
                if if_exists:
                    continue
                return False
            actual = context[key]
            patterns = _as_list(expected)
            if base == "StringEquals":
                ok = actual in patterns
            elif base == "StringLike":
                ok = any(_matches(pattern, actual) for pattern in patterns)
            elif base == "StringNotEquals":
                ok = actual not in patterns
            elif base == "StringNotLike":
                ok = not any(_matches(pattern, actual) for pattern in patterns)
            else:
                raise PolicyError(f"Condition operator {operator} is not supported here.")
            if not ok:
                return False
    return True


def _statement_applies(
    statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, str]
) -> bool:
    return (
        any(
            _matches(pattern, action, case_sensitive=False)
            for pattern in _as_list(statement["Action"])
        )
        and any(_matches(pattern, resource) for pattern in _as_list(statement["Resource"]))
        and _condition_holds(statement.get("Condition", {}), context)
    )


def is_allowed(
    policy: Mapping[str, Any],
    action: str,
    resource: str,
    context: Mapping[str, str] | None = None,
) -> bool:
    """Whether this identity policy alone allows ``action`` on ``resource``
    (an explicit Deny wins; no Allow means denied)."""
    context = context or {}
    applicable = [
        statement
        for statement in statements(policy)
        if _statement_applies(statement, action, resource, context)
    ]
    if any(statement["Effect"] == "Deny" for statement in applicable):
        return False
    return any(statement["Effect"] == "Allow" for statement in applicable)


def granted_actions(policy: Mapping[str, Any]) -> set[str]:
    return {
        action
        for statement in statements(policy)
        if statement.get("Effect") == "Allow"
        for action in _as_list(statement["Action"])
    }
