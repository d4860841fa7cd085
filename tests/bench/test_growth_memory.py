"""Smoke runs of bench/growth.py and bench/memory.py, small enough to be
quick: they measure something and report it as rows. No timing is asserted."""

from __future__ import annotations

from bench import growth, memory


def test_growth_reports_round_trips_and_latencies() -> None:
    rows = growth.run(quick=True, requests=5, moto_requests=2, sizes=(10, 20, 40))

    assert {row.section for row in rows} == {growth.SECTION}
    assert all(row.ours > 0 for row in rows)
    trips = [row for row in rows if row.unit == "calls"]
    assert len(trips) == len(growth.ENDPOINTS)
    assert all(row.passed for row in trips)  # what the app does, not a timing
    latency = [row for row in rows if row.unit == "ms" and row.budget]
    assert len(latency) == len(growth.BUDGETED)
    assert all(row.baseline and row.passed is not None for row in latency)


def test_memory_reports_peak_and_growth() -> None:
    rows = memory.run(quick=True, requests=40)

    assert [row.unit for row in rows] == ["MB", "MB", "%"]
    peak, first, growth_row = rows
    assert peak.ours >= first.ours > 0
    assert peak.passed is not None
    assert growth_row.passed is None  # a quick run does not judge growth
