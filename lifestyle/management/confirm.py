"""Confirmation for commands that change or create things in AWS."""

from __future__ import annotations

import sys
from typing import TextIO

from django.core.management.base import CommandError, OutputWrapper


def confirm(
    question: str, *, assume_yes: bool, stderr: OutputWrapper, stdin: TextIO | None = None
) -> None:
    """Go on only if the operator says yes (or passed ``--yes``).

    A prompt nobody can answer would hang a pipe or cron job, and inside
    Lambda (``zappa manage``) there is no terminal at all: without a TTY we
    refuse and say how to go ahead instead of guessing.
    """
    if assume_yes:
        return
    stdin = stdin or sys.stdin
    if stdin is None or not stdin.isatty():
        raise CommandError(
            "This needs confirmation and stdin is not a terminal (a pipe, a cron job or "
            "`zappa manage`), so nothing was done. Re-run with --yes to go ahead, or with "
            "--dry-run to see the plan."
        )
    stderr.write(f"{question} [y/N] ", ending="", style_func=str)
    stderr.flush()
    if stdin.readline().strip().lower() not in ("y", "yes"):
        raise CommandError("Cancelled: nothing was done.")
