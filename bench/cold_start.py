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

In the suite, :func:`run` measures in a child process (``--child-json``):
provisioning sets Django up with our settings and starts moto's server,
neither of which may stay in the suite's own process. The medians of the
last :func:`run` stay in :data:`LAST` for bench/first_use.py.

    .venv/bin/python -m bench.cold_start [--runs 7] [--imports]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from bench.harness import AWS_ENVIRONMENT, zappa_settings_source
from bench.processes import run_child
from bench.results import Row, markdown

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {
    "lifestyle": "lifestyle.settings.base",
    "hello": "bench.hello_app",
    "runbook": None,
}
SECTION = "Cold start"
BUDGET = 1.3  # ours / bare Django + DRF hello
NAMES = {
    "lifestyle": "our app via Zappa",
    "hello": "bare Django+DRF hello via Zappa",
    "runbook": "runbook's raw boto3 handler",
}
# Medians (ms) of the last run(), by variant: bench/first_use.py reads them.
LAST: dict[str, float] = {}


def prepare_stack(endpoint: str) -> dict[str, str]:
    """Provision moto with our own code; one user with one goal."""
    env = {**AWS_ENVIRONMENT, "AWS_ENDPOINT_URL": endpoint, "LOG_LEVEL": "WARNING"}
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


def settings_dirs(scratch: Path) -> dict[str, Path]:
    """A folder per Django variant holding the ``zappa_settings`` module
    Zappa generates at deploy time, for the child's ``PYTHONPATH``."""
    folders = {}
    for variant, settings in VARIANTS.items():
        if settings:
            folder = scratch / variant
            folder.mkdir()
            (folder / "zappa_settings.py").write_text(
                zappa_settings_source(settings, log_level="WARNING")
            )
            folders[variant] = folder
    return folders


def measure(runs: int, *, imports: bool = False) -> tuple[dict[str, list[float]], list[str]]:
    """Cold starts in ms by variant (``runs`` each, interleaved, after one
    unmeasured run each), and, with ``imports``, the heaviest imports as
    lines of text. Starts moto's server and sets Django up in this process."""
    from lifestyle.local_aws import start_moto_server

    server, endpoint = start_moto_server()
    try:
        base = prepare_stack(endpoint)
        with tempfile.TemporaryDirectory() as scratch:
            folders = settings_dirs(Path(scratch))
            envs = {v: child_env(base, v, folders) for v in VARIANTS}
            for variant in VARIANTS:  # warm the OS file cache, not measured
                run_once(variant, envs[variant])
            timings: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
            for run in range(runs):
                for variant in VARIANTS:
                    timings[variant].append(run_once(variant, envs[variant]))
                print(f"cold start: run {run + 1}/{runs} done", file=sys.stderr, flush=True)
            heaviest = []
            if imports:
                heaviest = [
                    f"{microseconds / 1000:8.1f}  {name}"
                    for microseconds, name in heaviest_imports(envs["lifestyle"])
                ]
    finally:
        server.stop()
    return timings, heaviest


def rows(timings: dict[str, list[float]]) -> list[Row]:
    """The figures: ours against the bare framework (budgeted) and against
    the runbook's function (reported), then each variant's spread."""
    medians = {variant: statistics.median(values) for variant, values in timings.items()}
    count = len(timings["lifestyle"])
    ours = medians["lifestyle"]
    ratio = ours / medians["hello"]
    found = [
        Row(
            SECTION,
            f"our app, whole process, median of {count}",
            ours,
            "ms",
            baseline=medians["hello"],
            baseline_name=NAMES["hello"],
            budget=f"<= {BUDGET}x",
            passed=ratio <= BUDGET,
        ),
        Row(
            SECTION,
            "our app vs one runbook function (GET /goals)",
            ours,
            "ms",
            baseline=medians["runbook"],
            baseline_name=NAMES["runbook"],
        ),
    ]
    for variant, values in timings.items():
        found.append(
            Row(
                SECTION,
                f"{NAMES[variant]}, median",
                medians[variant],
                "ms",
                note=f"min {min(values):.0f} ms of {len(values)}",
            )
        )
    return found


def run(quick: bool) -> list[Row]:
    """Full: 7 runs of each variant; quick: 2. Measured in a child process."""
    runs = 2 if quick else 7
    found = run_child("cold_start", "--child-json", "--runs", str(runs))
    timings: dict[str, list[float]] = found["timings"]
    LAST.clear()
    LAST.update({variant: statistics.median(values) for variant, values in timings.items()})
    return rows(timings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="2 runs: a smoke run")
    parser.add_argument("--imports", action="store_true", help="show the heaviest imports")
    parser.add_argument(
        "--child-json", action="store_true", help="print the timings as JSON (for run())"
    )
    args = parser.parse_args()
    timings, heaviest = measure(2 if args.quick else args.runs, imports=args.imports)
    if args.child_json:
        print(json.dumps({"timings": timings}))
        return 0
    report(timings)
    if heaviest:
        print("\nHeaviest top-level imports in our cold start (cumulative ms):")
        for line in heaviest:
            print(f"  {line}")
    found = rows(timings)
    print("\n" + markdown(found, heading="## Cold start"))
    return 1 if any(row.passed is False for row in found) else 0


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
