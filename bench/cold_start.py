"""Cold start, measured: whole fresh processes, several runs, median.

Each run starts a new Python process that imports a handler and serves one
``GET /api/v1/goals`` through it, as a new Lambda container does, timed
from spawn to exit. Three variants, interleaved so drift hits all alike:

- ``lifestyle``: our app through Zappa's handler, with a real Cognito token
  (the JWKS is fetched over HTTP, as on a real cold start) and a real Query;
- ``hello``: a bare Django + DRF "hello" app through the same handler;
- ``runbook``: the runbook's design, a plain boto3 function for one route
  doing the same Query.

AWS is moto's server on loopback. ``--imports`` also prints the modules
that cost our cold start the most (``python -X importtime``).

    .venv/bin/python -m bench.cold_start [--runs 7] [--imports]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {
    "lifestyle": "lifestyle.settings.base",
    "hello": "bench.hello_app",
    "runbook": None,
}
ZAPPA_SETTINGS = """\
API_STAGE = "dev"
PROJECT_NAME = "ai-lifestyle-app"
DJANGO_SETTINGS = {settings!r}
DEBUG = False
LOG_LEVEL = "WARNING"
BINARY_SUPPORT = True
CONTEXT_HEADER_MAPPINGS = {{}}
DOMAIN = None
BASE_PATH = None
ENVIRONMENT_VARIABLES = {{}}
EXCEPTION_HANDLER = None
AWS_EVENT_MAPPING = {{}}
AWS_BOT_EVENT_MAPPING = {{}}
COGNITO_TRIGGER_MAPPING = {{}}
"""


def prepare_stack(endpoint: str) -> dict[str, str]:
    """Provision moto with our own code; one user with one goal."""
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",  # Lambda sets both
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "DYNAMODB_TABLE": "bench-goals",
        "AWS_STORAGE_BUCKET_NAME": "bench-attachments",
        "COGNITO_USER_POOL_NAME": "bench-users",
        "DJANGO_SECRET_KEY": "bench-only-secret",
        "DJANGO_ALLOWED_HOSTS": ".amazonaws.com",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env, DJANGO_SETTINGS_MODULE="lifestyle.settings.base")
    import django

    django.setup()
    import jwt

    from goals.services import goal_create
    from lifestyle.provisioning import ensure_user, provision, sign_in

    stack = provision()
    ensure_user(stack.user_pool_id, username="bench", password="Bench-password-1", email="b@x.io")
    token = sign_in(stack.app_client_id, "bench", "Bench-password-1")["AccessToken"]
    user_id = jwt.decode(token, options={"verify_signature": False})["sub"]
    goal_create(user_id=user_id, title="Run", kind="amount", target=Decimal(100))
    return {
        **env,
        "COGNITO_USER_POOL_ID": stack.user_pool_id,
        "COGNITO_APP_CLIENT_ID": stack.app_client_id,
        "BENCH_TOKEN": token,
        "BENCH_USER_ID": user_id,
    }


def child_env(base: dict[str, str], variant: str, settings_dirs: dict[str, Path]) -> dict[str, str]:
    path = [str(ROOT)]
    if variant in settings_dirs:
        path.insert(0, str(settings_dirs[variant]))
    return {**base, "PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.pathsep.join(path)}


def run_once(variant: str, env: dict[str, str], extra: tuple[str, ...] = ()) -> float:
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603 (our own probe)
        [sys.executable, *extra, str(ROOT / "bench" / "cold_probe.py"), variant],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{result.stderr[-2000:]}")
    return elapsed * 1000


def heaviest_imports(env: dict[str, str], top: int = 15) -> list[tuple[int, str]]:
    """Top-level imports of one cold start by cumulative microseconds."""
    result = subprocess.run(  # noqa: S603 (our own probe)
        [sys.executable, "-X", "importtime", str(ROOT / "bench" / "cold_probe.py"), "lifestyle"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        if not name.startswith("  "):  # one space of indent: imported at top level
            rows.append((int(cumulative), name.strip()))
    return sorted(rows, reverse=True)[:top]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--imports", action="store_true", help="show the heaviest imports")
    args = parser.parse_args()

    from lifestyle.local_aws import start_moto_server

    server, endpoint = start_moto_server()
    try:
        base = prepare_stack(endpoint)
        with tempfile.TemporaryDirectory() as scratch:
            settings_dirs = {}
            for variant, settings in VARIANTS.items():
                if settings:
                    folder = Path(scratch) / variant
                    folder.mkdir()
                    (folder / "zappa_settings.py").write_text(
                        ZAPPA_SETTINGS.format(settings=settings)
                    )
                    settings_dirs[variant] = folder
            envs = {v: child_env(base, v, settings_dirs) for v in VARIANTS}
            for variant in VARIANTS:  # warm the OS file cache, not measured
                run_once(variant, envs[variant])
            timings: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
            for run in range(args.runs):
                for variant in VARIANTS:
                    timings[variant].append(run_once(variant, envs[variant]))
                print(f"run {run + 1}/{args.runs} done", file=sys.stderr)
            report(timings)
            if args.imports:
                print("\nHeaviest top-level imports in our cold start (cumulative ms):")
                for microseconds, name in heaviest_imports(envs["lifestyle"]):
                    print(f"  {microseconds / 1000:8.1f}  {name}")
    finally:
        server.stop()
    return 0


def report(timings: dict[str, list[float]]) -> None:
    medians = {variant: statistics.median(values) for variant, values in timings.items()}
    ours = medians["lifestyle"]
    print(f"\nCold start, whole process, median of {len(timings['lifestyle'])} runs:")
    print(f"  {'variant':<10} {'median ms':>10} {'min ms':>8} {'ours / this':>12}")
    for variant, values in timings.items():
        ratio = ours / medians[variant]
        print(f"  {variant:<10} {medians[variant]:10.0f} {min(values):8.0f} {ratio:12.2f}")


if __name__ == "__main__":
    sys.exit(main())
