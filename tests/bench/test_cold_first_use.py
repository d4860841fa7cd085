"""Smoke runs of bench/cold_start.py and bench/first_use.py: their quick
runs measure something and report it as rows. No timing is asserted."""

from __future__ import annotations

from bench import cold_start, first_use


def test_cold_start_then_first_use_report_measured_rows() -> None:
    cold = cold_start.run(quick=True)

    assert {row.section for row in cold} == {"Cold start"}
    assert all(row.ours > 0 for row in cold)
    budgeted = [row for row in cold if row.budget]
    assert len(budgeted) == 1
    assert budgeted[0].baseline is not None
    assert budgeted[0].passed is not None
    assert set(cold_start.LAST) == {"lifestyle", "hello", "runbook"}

    first = first_use.run(quick=True)

    assert {row.section for row in first} == {"First use"}
    assert all(row.ours > 0 and row.baseline for row in first)
    paid = first[0]
    assert (paid.ours, paid.baseline, paid.unit) == (1, 4, "cold starts")
    assert [row.passed is not None for row in first].count(True) == 1
    assert any("cross-check" in row.figure for row in first)  # from cold_start.LAST
