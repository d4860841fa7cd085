"""Opaque, tamper-proof list cursors.

A cursor is DynamoDB's ``LastEvaluatedKey`` signed with the project's secret
and salted with the caller's id and the list's name and filters, so it
cannot be forged, edited, or replayed by another user or on another list.
"""

from __future__ import annotations

from typing import Any

from django.core import signing
from rest_framework import serializers

from lifestyle.errors import ValidationFailed

MAX_LIMIT = 100
DEFAULT_LIMIT = 20


def _salt(user_id: str, scope: str) -> str:
    return f"lifestyle.cursor:{user_id}:{scope}"


def encode_cursor(key: dict[str, Any] | None, *, user_id: str, scope: str) -> str | None:
    if not key:
        return None
    return signing.dumps(key, salt=_salt(user_id, scope), compress=True)


def decode_cursor(cursor: str | None, *, user_id: str, scope: str) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        key = signing.loads(cursor, salt=_salt(user_id, scope))
    except signing.BadSignature:
        raise ValidationFailed(
            "The cursor is not valid for this list.", fields={"cursor": ["Invalid cursor."]}
        ) from None
    if not isinstance(key, dict):
        raise ValidationFailed(fields={"cursor": ["Invalid cursor."]})
    return key


class QuerySerializer(serializers.Serializer):
    """Query parameters, read as strictly as bodies: an unknown name
    (``?limt=5``) or an empty value (``?cursor=``) is a 400 naming it. DRF
    would drop the first and read the second as left out, so a client bug
    would silently mean "no filter" or "first page"."""

    def to_internal_value(self, data: Any) -> Any:
        errors: dict[str, list[str]] = {}
        for name in data:
            if name not in self.fields:
                errors[str(name)[:100]] = ["Unknown parameter."]
            elif "" in data.getlist(name):
                errors[name] = ["May not be blank: leave the parameter out instead."]
        if errors:
            raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class PageQuerySerializer(QuerySerializer):
    """``?limit=`` and ``?cursor=`` as every list takes them."""

    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)
    cursor = serializers.CharField(required=False, max_length=2048)


def page_response(items: list[Any], next_cursor: str | None) -> dict[str, Any]:
    return {"items": items, "next_cursor": next_cursor}
