"""The processes benchmarks start: measuring children and moto's server.

``bench.suite`` imports every benchmark into one process, so a benchmark
measures in a child of its own (Django's settings, moto and Zappa's handler
are per process) and hands back JSON: :func:`run_child`. A benchmark whose
measured process must not hold moto (memory, the 10,000-activity export)
runs moto's server apart: :func:`moto_server`, made faithful as the tests'
is (``lifestyle.local_aws``).

    .venv/bin/python -m bench.processes --moto-server PORT   (what moto_server runs)
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# What any process needs; nothing an earlier benchmark set for itself.
KEPT_VARIABLES = ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "SYSTEMROOT")


def clean_env(**extra: str) -> dict[str, str]:
    """A child's environment: the basics, ``PYTHONPATH`` at this checkout,
    ``extra``; none of the AWS or Django variables a benchmark that ran
    earlier in the suite may have left in ``os.environ``."""
    kept = {name: os.environ[name] for name in KEPT_VARIABLES if name in os.environ}
    return {**kept, "PYTHONPATH": str(ROOT), **extra}


def run_child(
    module: str, *arguments: str, env: dict[str, str] | None = None, marker: str = ""
) -> Any:
    """``python -m bench.<module> *arguments`` in a fresh process; the JSON
    on the last line of its standard output that starts with ``marker``.
    Its standard error (progress) passes through; a failure stops the run."""
    result = subprocess.run(  # noqa: S603 (our own modules)
        [sys.executable, "-m", f"bench.{module}", *arguments],
        cwd=ROOT,
        env=env if env is not None else clean_env(),
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"bench.{module} {' '.join(arguments[:2])} failed ({result.returncode})")
    answers = [line for line in result.stdout.splitlines() if line.startswith(marker)]
    return json.loads(answers[-1].removeprefix(marker))


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's server in a child process (:func:`serve_moto`); its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(  # noqa: S603 (our own module)
        [sys.executable, "-m", "bench.processes", "--moto-server", str(port)],
        cwd=ROOT,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def serve_moto(port: int) -> None:
    """moto's server (as ``moto_server``), made faithful: one request at a
    time, no whole-table copies, no registry of every object made."""
    from moto.server import main

    from lifestyle.local_aws import make_moto_faithful

    make_moto_faithful()
    main(["-H", "127.0.0.1", "-p", str(port)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moto-server", type=int, required=True, metavar="PORT")
    serve_moto(parser.parse_args().moto_server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
