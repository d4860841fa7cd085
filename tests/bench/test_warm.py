"""A smoke run of bench/warm.py: a few requests of each operation on each
side, through Zappa's handler. The round trips are what the app does, so
they are held to their budgets here; no timing is asserted."""

from __future__ import annotations

from bench import warm


def test_warm_measures_every_operation_and_its_round_trips() -> None:
    rows = warm.run(quick=True, requests=3)

    sections = {row.section for row in rows}
    assert sections == {
        "Warm latency, moto in-process",
        "Warm latency, canned DynamoDB",
        "DynamoDB per request",
    }
    assert all(row.ours > 0 for row in rows)
    trips = {row.figure.removesuffix(" round trips"): row for row in rows if row.unit == "calls"}
    assert set(trips) == set(warm.OPERATIONS)
    assert all(row.passed for row in trips.values()), [r.note for r in trips.values()]
    assert trips["log_activity"].ours == 2  # warm: one read, one transaction
    assert trips["get_progress"].ours == 2
    assert all(row.baseline for row in rows if row.unit == "ms" and row.budget)
