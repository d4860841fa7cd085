"""What every benchmark reports, and ``bench/RESULTS.md`` built from it.

A benchmark module under ``bench/`` exposes ``run(quick: bool) -> list[Row]``;
``bench.suite`` runs them all (``make bench``) and writes the table. A row is
one figure: ours, the baseline measured in the same run where there is one,
their ratio, and the budget it is held to.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Row:
    """One measured figure.

    ``budget`` says what passing means, for people (``"<= 1.3x"``);
    ``passed`` is None when the figure has no budget (reported only).
    """

    section: str  # "Cold start", "Warm latency (moto)", ...
    figure: str  # "get_goal p50"
    ours: float
    unit: str  # "ms", "MB", "calls", "x"
    baseline: float | None = None
    baseline_name: str = ""
    budget: str = ""
    passed: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.ours / self.baseline


def machine() -> str:
    """The machine a run was on, for the table's heading."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return ""
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    return f"{text} {unit}".strip()


def markdown(rows: list[Row], *, heading: str) -> str:
    """The results as a Markdown table, one section after another."""
    lines = [heading, "", f"Machine: {machine()}.", ""]
    lines.append("| section | figure | ours | baseline | ratio | budget | pass |")
    lines.append("| --- | --- | ---: | --- | ---: | --- | :---: |")
    for row in rows:
        baseline = (
            f"{_number(row.baseline, row.unit)} ({row.baseline_name})"
            if row.baseline is not None
            else ""
        )
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
        verdict = {True: "pass", False: "**FAIL**", None: ""}[row.passed]
        figure = f"{row.figure} ({row.note})" if row.note else row.figure
        lines.append(
            f"| {row.section} | {figure} | {_number(row.ours, row.unit)} | {baseline} "
            f"| {ratio} | {row.budget} | {verdict} |"
        )
    return "\n".join(lines) + "\n"
