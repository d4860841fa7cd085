"""Time helpers: one place that says what "now" is, always timezone-aware."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def rfc3339(value: datetime) -> str:
    """``2026-11-28T04:16:09.123456Z``-style text for API responses."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
