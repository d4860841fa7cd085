"""Resource ids: ULIDs made here, or UUIDs a client chose for an
idempotent create. Both are plain text in keys and URLs."""

from __future__ import annotations

import re
import secrets
import time
import uuid

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")


def new_ulid() -> str:
    """26 characters, sortable by creation time (48-bit milliseconds, then
    80 random bits), as in the ULID spec."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def normalize_id(raw: str) -> str | None:
    """The canonical form of a ULID or UUID, or None if ``raw`` is neither."""
    if _ULID.match(raw):
        return raw
    if len(raw) == 36:
        try:
            return str(uuid.UUID(raw))
        except ValueError:
            return None
    return None
