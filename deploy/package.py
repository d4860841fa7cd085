"""Build the Lambda package with Zappa and prove it is fit to upload.

Run by ``make package`` with the production-only virtualenv's Python
(``.venv-package``: runtime dependencies and Zappa, nothing from ``dev``).
Standard library only, no AWS credentials, nothing fetched but what Zappa
itself looks up on PyPI.

1. ``zappa package STAGE`` runs with that virtualenv active (Zappa zips the
   ACTIVE virtualenv with the working tree), AWS credentials and profiles
   stripped from its environment, and a copy of ``zappa_settings.json``
   without ``attach_policy``: the rendered per-account policy it names is
   only needed by ``zappa deploy``/``update``, and packaging must work on a
   fresh clone.
2. Trimmed of what the function can never use: botocore's API models of the
   services the IAM policy does not let it call (some 15 MiB zipped of the
   ~400 services botocore describes), and translations (``USE_I18N`` is
   off: ``*.mo`` and ``*.po`` files are excluded in ``zappa_settings.json``).
3. The zip's size, zipped and unzipped, against Lambda's limits.
4. Bytecode for every module that has none: Lambda extracts the zip with
   the 1980 dates Zappa writes, which invalidates timestamp-based ``.pyc``
   files, and ``/var/task`` is read-only, so without hash-based bytecode
   (PEP 552) every cold start compiles every module again (measured here:
   1.3 s instead of 0.46 s for handler, Django and one request). The
   dependencies' bytecode is made hash-based at install time
   (``SOURCE_DATE_EPOCH``, see the Makefile); ours, whose working-tree
   ``__pycache__`` is excluded, and Zappa's generated files are compiled here.
5. No development package inside; the app and Zappa's generated files are;
   nothing from the repository's tests, bench, docs or virtualenvs is.
6. A smoke run of the package itself: the zip is extracted and, in a Python
   that sees nothing but the standard library and the extracted files,
   Zappa's handler answers a keep-warm event and an API Gateway request for
   ``/api/v1/health``, and boto3 builds a client for every service the
   policy grants. A module dropped by an over-eager exclude fails here,
   not at the first cold start in AWS.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import marshal
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
POLICY_TEMPLATE = ROOT / "deploy" / "lambda-policy.template.json"
MIB = 1024 * 1024
# Lambda's quotas (MiB as AWS counts them): a zip uploaded directly with the
# request, and the function's code once unzipped, layers included.
ZIPPED_LIMIT = 50 * MIB
UNZIPPED_LIMIT = 250 * MIB
# Top-level names that only development installs bring.
DEV_ONLY = ("pytest", "_pytest", "pytest_django", "moto", "playwright", "ruff", "mypy", "mypyc")
# What the package must hold: Zappa's handler and generated settings, our code.
REQUIRED = (
    "handler.py",
    "zappa_settings.py",
    "django_zappa_app.py",
    "lifestyle/settings/base.py",
    "goals/apis.py",
    "activities/apis.py",
    "accounts/apis.py",
    "sync/apis.py",
    "ops_admin/apps.py",
    "botocore/docs/docstring.py",  # imported by botocore.client: never exclude "docs"
)
# Clients zappa.asynchronous builds when imported (export jobs, accounts/exports.py):
# without their models the import fails, whatever the policy grants.
ZAPPA_ASYNC_SERVICES = ("dynamodb", "lambda", "sns", "sts")
# Repository content that must not ship.
FORBIDDEN_PREFIXES = ("tests/", "bench/", "docs/", "deploy/", "build/", ".venv", ".local/", ".ci/")
# Variables that would let anything in the packaging step reach AWS.
AWS_CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


def mib(size: int) -> str:
    return f"{size / MIB:.1f} MiB"


def stage_config(stage: str) -> dict[str, Any]:
    """A stage's settings as Zappa reads them (``extends`` merged, shallowly)."""
    settings = json.loads((ROOT / "zappa_settings.json").read_text())
    config = dict(settings[stage])
    parent = config.pop("extends", None)
    return {**stage_config(str(parent)), **config} if parent else config


def packaging_settings(stage: str, directory: Path) -> Path:
    """A copy of zappa_settings.json for ``zappa package``, without the
    per-account IAM policy file (git-ignored; deploys need it, packages do not)."""
    settings = json.loads((ROOT / "zappa_settings.json").read_text())
    if stage not in settings:
        have = ", ".join(settings)
        raise SystemExit(f"No stage {stage!r} in zappa_settings.json (have: {have}).")
    for config in settings.values():
        config.pop("attach_policy", None)
    path = directory / "zappa_settings.json"
    path.write_text(json.dumps(settings))
    return path


def zappa_environment(venv: Path) -> dict[str, str]:
    env = {
        name: value for name, value in os.environ.items() if name not in AWS_CREDENTIAL_VARIABLES
    }
    env.pop("PYTHONHOME", None)
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    # No profile files and no instance metadata: packaging never signs a request.
    env["AWS_CONFIG_FILE"] = os.devnull
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def run_zappa(stage: str, output: Path, venv: Path, log: Path) -> float:
    zappa = venv / "bin" / "zappa"
    if not zappa.exists():
        raise SystemExit(f"{zappa} is missing: run 'make package' to build {venv.name}.")
    with tempfile.TemporaryDirectory(prefix="zappa-settings-") as tmp:
        settings = packaging_settings(stage, Path(tmp))
        command = [str(zappa), "package", stage, "-s", str(settings), "-o", str(output)]
        started = time.monotonic()
        with log.open("w") as out:
            result = subprocess.run(  # noqa: S603 (fixed command, our own paths)
                command, cwd=ROOT, env=zappa_environment(venv), stdout=out, stderr=out, check=False
            )
        elapsed = time.monotonic() - started
    if result.returncode != 0 or not output.exists():
        print(log.read_text()[-4000:], file=sys.stderr)
        raise SystemExit(f"zappa package failed (exit {result.returncode}); full log: {log}")
    return elapsed


def policy_services(template: Path = POLICY_TEMPLATE) -> list[str]:
    """The AWS services the function's policy lets it call (the prefixes of
    its actions: ``dynamodb``, ``s3``, ...), which are also the names of
    botocore's API models. A service added to the code needs a policy grant
    anyway, and with it comes its model."""
    services: set[str] = set()
    for statement in json.loads(template.read_text())["Statement"]:
        actions = statement.get("Action", [])
        for action in [actions] if isinstance(actions, str) else actions:
            services.add(action.split(":", 1)[0])
    return sorted(services)


def trim_botocore(path: Path, keep: list[str]) -> tuple[int, int]:
    """Rewrite the zip without ``botocore/data/<service>/`` for services not
    in ``keep`` (the files at the top of ``botocore/data``, endpoints and
    partitions, stay). Returns the entries and compressed bytes removed."""
    prefix = "botocore/data/"
    kept_prefixes = tuple(f"{prefix}{service}/" for service in keep)

    def unused(name: str) -> bool:
        rest = name.removeprefix(prefix)
        return name.startswith(prefix) and "/" in rest and not name.startswith(kept_prefixes)

    removed = saved = 0
    trimmed = path.with_suffix(".trimmed.zip")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(trimmed, "w") as target:
        for info in source.infolist():
            if unused(info.filename):
                removed += 1
                saved += info.compress_size
                continue
            # Copied compressed as they are: same bytes, same entry metadata.
            with source.open(info) as data:
                target.writestr(info, data.read(), compress_type=info.compress_type)
    trimmed.replace(path)
    return removed, saved


def add_bytecode(path: Path, runtime: str) -> int:
    """Append a checked-hash ``.pyc`` for each module in the zip that has no
    bytecode; returns how many were added."""
    if runtime != f"python{sys.version_info[0]}.{sys.version_info[1]}":
        print(f"note: no bytecode added: this Python is not the Lambda runtime ({runtime}).")
        return 0
    added = 0
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        names = set(archive.namelist())
        for name in sorted(names):
            if not name.endswith(".py"):
                continue
            folder, _, filename = name.rpartition("/")
            cached = f"{folder}/" if folder else ""
            cached += f"__pycache__/{filename[:-3]}.{sys.implementation.cache_tag}.pyc"
            if cached in names:
                continue
            source = archive.read(name)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    code = compile(source, f"/var/task/{name}", "exec", dont_inherit=True)
            except (SyntaxError, ValueError):
                continue  # not a module (templates, fixtures): Python never imports it
            flags = 0b11  # hash-based, checked against the source on import
            data = importlib.util.MAGIC_NUMBER + flags.to_bytes(4, "little")
            data += importlib.util.source_hash(source) + marshal.dumps(code)
            info = zipfile.ZipInfo(cached)
            info.create_system = 3  # as Zappa writes its entries
            info.external_attr = 0o755 << 16
            archive.writestr(info, data, zipfile.ZIP_DEFLATED)
            added += 1
    return added


def check_contents(archive: zipfile.ZipFile) -> list[str]:
    names = archive.namelist()
    problems: list[str] = []
    tops = {name.split("/", 1)[0] for name in names}
    dev = sorted(
        top
        for top in tops
        if top.split("-", 1)[0].split(".", 1)[0].lower() in DEV_ONLY
        or top.lower().startswith(tuple(f"{name}-" for name in DEV_ONLY))
    )
    print(
        f"check: development packages ({', '.join(DEV_ONLY)}) in the zip: "
        f"{', '.join(dev) if dev else 'none'}"
    )
    if dev:
        problems.append(f"development packages in the zip: {', '.join(dev)}")
    missing = [
        need
        for need in REQUIRED
        if need not in tops and not any(name.startswith(need) for name in names)
    ]
    print(f"check: app, handler and generated settings present: {'NO' if missing else 'yes'}")
    if missing:
        problems.append(f"missing from the zip: {', '.join(missing)}")
    leaked = sorted(
        {name.split("/", 1)[0] for name in names if name.startswith(FORBIDDEN_PREFIXES)}
    )
    print(
        "check: repository-only folders (tests, bench, docs, deploy, venvs...) absent: "
        f"{'yes' if not leaked else 'NO'}"
    )
    if leaked:
        problems.append(f"repository-only content in the zip: {', '.join(leaked)}")
    pyc = [name for name in names if name.endswith(".pyc")]
    hashed = sum(1 for name in pyc if _hash_based(archive.read(name)))
    print(
        f"check: {hashed} of {len(pyc)} .pyc files hash-based (stay valid on Lambda, "
        "whose zip-extracted files all carry the zip's 1980 dates)"
    )
    return problems


def _hash_based(pyc: bytes) -> bool:
    # PEP 552: the flags word after the magic number; bit 0 set = hash-based.
    return len(pyc) >= 8 and int.from_bytes(pyc[4:8], "little") & 1 == 1


SMOKE = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, ".")
    import zappa_settings as generated

    # Offline: no secret to fetch (the key is given), no AWS to call.
    settings = dict(vars(generated))
    variables = dict(settings["ENVIRONMENT_VARIABLES"])
    variables.pop("LIFESTYLE_SECRET_ID", None)
    variables["DJANGO_SECRET_KEY"] = "package-smoke-test-only"
    lines = [f"{name} = {value!r}" for name, value in settings.items()
             if name.isupper() and name != "ENVIRONMENT_VARIABLES"]
    lines.append(f"ENVIRONMENT_VARIABLES = {variables!r}")
    open("smoke_settings.py", "w").write("\\n".join(lines) + "\\n")

    import handler

    handler.LambdaHandler("smoke_settings")

    class Context:
        function_name = "smoke"
        aws_request_id = "smoke-request"
        invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:smoke"
        memory_limit_in_mb = 512

        @staticmethod
        def get_remaining_time_in_millis():
            return 30000

    handler.lambda_handler({"detail-type": "Scheduled Event", "source": "aws.events",
                            "resources": ["keep-warm"]}, Context())
    event = {
        "resource": "/{proxy+}",
        "path": "/api/v1/health",
        "httpMethod": "GET",
        "headers": {"Host": "abc123.execute-api.us-east-1.amazonaws.com",
                    "X-Forwarded-Proto": "https", "Accept": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": "api/v1/health"},
        "stageVariables": None,
        "requestContext": {"stage": settings["API_STAGE"], "httpMethod": "GET",
                           "identity": {"sourceIp": "203.0.113.1", "userAgent": "smoke"},
                           "requestId": "smoke-request"},
        "body": None,
        "isBase64Encoded": False,
    }
    response = handler.lambda_handler(event, Context())
    body = json.loads(response["body"])
    assert response["statusCode"] == 200 and body == {"status": "ok"}, response

    # Clients are built offline: this proves each granted service's API
    # model survived the trim.
    import boto3
    for service in sys.argv[1:]:
        boto3.client(service, region_name="us-east-1")
    print("ok")
    """
)


def smoke(archive_path: Path, venv: Path, services: list[str]) -> None:
    """Serve one request from the extracted package, in a Python with no
    site-packages at all (``-S``), so every import comes from the zip."""
    with tempfile.TemporaryDirectory(prefix="lambda-task-") as task:
        with zipfile.ZipFile(archive_path) as archive:
            archive.extractall(task)
        env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"}
        env.update(AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
        result = subprocess.run(  # noqa: S603 (fixed command)
            [str(venv / "bin" / "python"), "-I", "-S", "-B", "-c", SMOKE, *services],
            cwd=task,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    passed = result.returncode == 0 and result.stdout.strip().endswith("ok")
    print(
        "check: the package alone (no site-packages) answers keep-warm and "
        f"GET /api/v1/health through Zappa's handler, builds clients for {', '.join(services)}: "
        f"{'yes' if passed else 'NO'}"
    )
    if not passed:
        print(result.stdout[-3000:], result.stderr[-5000:], sep="\n", file=sys.stderr)
        raise SystemExit("The package does not serve a request on its own.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv-package")
    options = parser.parse_args()
    output = (options.output or Path("build") / f"lifestyle-{options.stage}.zip").resolve()
    venv = options.venv.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.unlink(missing_ok=True)
    if (platform.system(), platform.machine()) != ("Linux", "x86_64"):
        print(
            f"note: building on {platform.system()} {platform.machine()}; Zappa swaps compiled "
            "packages for manylinux x86_64 wheels from PyPI where it finds them.",
        )

    print(f"zappa package {options.stage} from {venv.name} (no AWS credentials)...")
    elapsed = run_zappa(options.stage, output, venv, output.with_suffix(".log"))
    services = sorted({*policy_services(), *ZAPPA_ASYNC_SERVICES})
    removed, saved = trim_botocore(output, services)
    print(
        f"trim: botocore API models kept for {', '.join(services)}; "
        f"{removed} files of other services removed ({mib(saved)} zipped)"
    )
    added = add_bytecode(output, stage_config(options.stage)["runtime"])

    with zipfile.ZipFile(output) as archive:
        zipped = output.stat().st_size
        unzipped = sum(info.file_size for info in archive.infolist())
        files = len(archive.infolist())
        print(
            f"package: {output.relative_to(ROOT)} ({files} files, {added} .pyc added), "
            f"built by Zappa in {elapsed:.0f} s"
        )
        print(
            f"zipped:   {mib(zipped):>10} of {mib(ZIPPED_LIMIT)} "
            f"(direct-upload limit; {zipped / ZIPPED_LIMIT:.0%} used)"
        )
        print(
            f"unzipped: {mib(unzipped):>10} of {mib(UNZIPPED_LIMIT)} "
            f"(function code limit; {unzipped / UNZIPPED_LIMIT:.0%} used)"
        )
        problems = check_contents(archive)
    if zipped > ZIPPED_LIMIT:
        problems.append(f"zipped size {mib(zipped)} is over {mib(ZIPPED_LIMIT)}")
    if unzipped > UNZIPPED_LIMIT:
        problems.append(f"unzipped size {mib(unzipped)} is over {mib(UNZIPPED_LIMIT)}")
    if problems:
        raise SystemExit("Package refused: " + "; ".join(problems))
    smoke(output, venv, services)
    print("package OK")


if __name__ == "__main__":
    main()
