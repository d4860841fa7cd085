"""``make bench``: every benchmark, one after another, into ``bench/RESULTS.md``.

Each module's ``run(quick)`` returns its rows (``bench.results.Row``); a row
with a budget passes or fails it. The table is written whatever the
verdicts; a figure over budget is listed at the end, and with ``--strict``
it also makes the exit status 1.

    .venv/bin/python -m bench.suite [--quick] [--strict] [--only warm,growth] [--output PATH]
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.results import Row, markdown

# In the order the issue lists them; first_use reads cold starts itself.
MODULES = ("cold_start", "warm", "growth", "memory", "first_use", "package_size")
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def run_all(modules: tuple[str, ...], *, quick: bool) -> list[Row]:
    rows: list[Row] = []
    for name in modules:
        started = time.monotonic()
        print(f"bench: {name}...", file=sys.stderr, flush=True)
        module = importlib.import_module(f"bench.{name}")
        found = module.run(quick)
        rows.extend(found)
        failed = sum(1 for row in found if row.passed is False)
        print(
            f"bench: {name}: {len(found)} figures, {failed} over budget, "
            f"{time.monotonic() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small samples: a smoke run")
    parser.add_argument("--only", help="comma-separated modules, e.g. warm,growth")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the table goes")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a budget fails")
    options = parser.parse_args()
    modules = tuple(options.only.split(",")) if options.only else MODULES
    unknown = set(modules) - set(MODULES)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    started = time.monotonic()
    rows = run_all(modules, quick=options.quick)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    mode = "a quick run: small samples, not for quoting" if options.quick else "a full run"
    heading = (
        f"# Benchmark results\n\n`make bench`, {mode}, {when}, "
        f"{time.monotonic() - started:.0f} s. Ratios compare figures measured in the same run. "
        "What each benchmark measures is in its module's docstring (`bench/`); why a "
        'budget is not met, in README.md, "Performance".'
    )
    table = markdown(rows, heading=heading)
    options.output.write_text(table)
    print(table)
    failed = [row for row in rows if row.passed is False]
    for row in failed:
        print(f"over budget: {row.section}: {row.figure}", file=sys.stderr)
    return 1 if failed and options.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
