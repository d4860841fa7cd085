"""Item 6: the Lambda package's size, zipped and unzipped, against Lambda's
limits. The full run builds it the way a deploy does (``make package``:
Zappa, from the production-only virtualenv, trimmed and checked); quick mode
measures the zip already in ``build/`` if there is one.

    .venv/bin/python -m bench.package_size [--quick]
"""

from __future__ import annotations

import argparse
import subprocess
import zipfile
from pathlib import Path

from bench.results import Row, markdown

ROOT = Path(__file__).resolve().parent.parent
STAGE = "dev"
ZIP = ROOT / "build" / f"lifestyle-{STAGE}.zip"
MIB = 1024 * 1024
# Lambda's quotas: a zip uploaded with the request, and the code unzipped.
ZIPPED_LIMIT = 50 * MIB
UNZIPPED_LIMIT = 250 * MIB


def build() -> None:
    """``make package``: the package exactly as a deploy builds it."""
    subprocess.run(  # noqa: S603 (our own Makefile)
        ["make", "--no-print-directory", "package", f"PACKAGE_STAGE={STAGE}"],  # noqa: S607
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )


def sizes(path: Path) -> tuple[int, int]:
    with zipfile.ZipFile(path) as archive:
        return path.stat().st_size, sum(info.file_size for info in archive.infolist())


def run(quick: bool) -> list[Row]:
    if not quick:
        build()
    if not ZIP.exists():
        return [Row("Package", "zip", 0, "MB", note="not built: run `make package`", passed=None)]
    zipped, unzipped = sizes(ZIP)
    note = "" if not quick else "the zip in build/, not rebuilt"
    return [
        Row(
            "Package",
            "zipped",
            zipped / MIB,
            "MiB",
            budget=f"< {ZIPPED_LIMIT // MIB} MiB (direct upload)",
            passed=zipped < ZIPPED_LIMIT,
            note=note,
        ),
        Row(
            "Package",
            "unzipped",
            unzipped / MIB,
            "MiB",
            budget=f"< {UNZIPPED_LIMIT // MIB} MiB (function code)",
            passed=unzipped < UNZIPPED_LIMIT,
            note=note,
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="measure build/ without building")
    rows = run(parser.parse_args().quick)
    print(markdown(rows, heading="## Package size"))
    return 0 if all(row.passed is not False for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
