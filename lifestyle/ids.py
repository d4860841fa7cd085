"""Resource ids: ULIDs made here, or UUIDs a client chose for an
idempotent create. Both are plain text in keys and URLs."""

from __future__ import annotations

import re
import secrets
import threading
import time
import uuid

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
_RANDOM_BITS = 80


class _UlidClock:
    """ULIDs that sort in the order this process made them, even within one
    millisecond: the spec's monotonic mode (same millisecond, random part
    plus one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_random = 0

    def next_value(self) -> int:
        with self._lock:
            now_ms = time.time_ns() // 1_000_000
            if now_ms <= self._last_ms:
                now_ms = self._last_ms
                self._last_random += 1
                if self._last_random >> _RANDOM_BITS:  # 2**80 ids in 1 ms: wait
                    now_ms += 1
                    self._last_random = secrets.randbits(_RANDOM_BITS)
            else:
                self._last_random = secrets.randbits(_RANDOM_BITS)
            self._last_ms = now_ms
            return now_ms << _RANDOM_BITS | self._last_random


_clock = _UlidClock()


def new_ulid() -> str:
    """26 characters: 48-bit milliseconds then 80 random bits (the ULID
    spec), increasing within this process."""
    value = _clock.next_value()
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def normalize_id(raw: str) -> str | None:
    """The canonical form of a ULID or UUID, or None if ``raw`` is neither."""
    if len(raw) == 26 and _ULID.match(raw.upper()):
        return raw.upper()  # Crockford base 32 is case-insensitive
    if len(raw) == 36:
        try:
            return str(uuid.UUID(raw))
        except ValueError:
            return None
    return None
