from __future__ import annotations

import uuid
from unittest import mock

import pytest

from lifestyle.ids import new_ulid, normalize_id


def test_ulids_are_valid_and_increase_even_within_one_millisecond() -> None:
    with mock.patch("lifestyle.ids.time.time_ns", return_value=1_800_000_000_000_000_000):
        ids = [new_ulid() for _ in range(1000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(normalize_id(value) == value for value in ids)


def test_ulids_never_go_backwards_when_the_clock_does() -> None:
    first = new_ulid()
    with mock.patch("lifestyle.ids.time.time_ns", return_value=0):
        assert new_ulid() > first


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1B4E28BA-2FA1-4D3B-A3F5-EF19B5A7633B", "1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b"),
        ("01JBZ3Y7Q2W8R6N4M0K1H5G9FD", "01JBZ3Y7Q2W8R6N4M0K1H5G9FD"),
        ("01jbz3y7q2w8r6n4m0k1h5g9fd", "01JBZ3Y7Q2W8R6N4M0K1H5G9FD"),
        ("81JBZ3Y7Q2W8R6N4M0K1H5G9FD", None),  # over 128 bits
        ("abc", None),
        ("../../etc/passwd", None),
        ("1b4e28ba2fa14d3ba3f5ef19b5a7633b", None),  # UUIDs in their dashed form only
        ("", None),
    ],
)
def test_normalize_id(raw: str, expected: str | None) -> None:
    assert normalize_id(raw) == expected


def test_uuid_round_trip() -> None:
    value = str(uuid.uuid4())
    assert normalize_id(value) == value
