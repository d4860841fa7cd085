"""HTTP conditional requests: ETags on resources, If-Match on writes."""

from __future__ import annotations

from rest_framework.request import Request

from lifestyle.errors import PreconditionFailed, PreconditionRequired


def etag_for(version: int) -> str:
    return f'"{version}"'


def if_match_version(request: Request, *, required: bool) -> int | None:
    """The version the client last saw, from ``If-Match``.

    ``*`` (or no header, when not required) means any version. A header
    naming no version we could have issued can never match: 412.
    """
    header = request.headers.get("If-Match", "").strip()
    if not header:
        if required:
            raise PreconditionRequired()
        return None
    if header == "*":
        return None
    tag = header.split(",")[0].strip()
    tag = tag.removeprefix("W/")
    if len(tag) >= 2 and tag[0] == tag[-1] == '"':
        tag = tag[1:-1]
    if not tag.isdigit() or len(tag) > 18:
        raise PreconditionFailed()
    return int(tag)
