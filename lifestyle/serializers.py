"""Serializer pieces every app's API uses."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from lifestyle.timeutil import rfc3339


class OutputSerializer(serializers.Serializer):
    """The shape of a response body, formatted fast.

    DRF deep-copies every declared field, and binds the copies, for each
    object it serializes: for a goal, 19 fields rebuilt from their
    constructor arguments on every request (0.4 ms of a warm request's
    2 ms, measured by ``bench/warm.py``). An output field here only formats
    a value: it reads nothing from the serializer it is bound to, so one
    bound set per class serves every object. Fields that do look around
    them (method fields, related fields, which read ``parent`` or
    ``context``) are refused when the class is first used.

    Subclasses are written and documented (drf-spectacular) as any
    serializer; only ``to_representation`` differs.
    """

    _bound_fields: dict[type, list[serializers.Field]] = {}

    @classmethod
    def output_fields(cls) -> list[serializers.Field]:
        """The class's readable fields, bound once to a prototype instance."""
        fields = OutputSerializer._bound_fields.get(cls)
        if fields is None:
            prototype = cls()
            fields = [field for field in prototype.fields.values() if not field.write_only]
            for field in fields:
                if isinstance(field, CONTEXTUAL_FIELDS):
                    raise TypeError(
                        f"{cls.__name__}.{field.field_name}: {type(field).__name__} reads its "
                        "serializer; use a plain serializers.Serializer for this shape."
                    )
            OutputSerializer._bound_fields[cls] = fields
        return fields

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for field in self.output_fields():
            try:
                attribute = field.get_attribute(instance)
            except serializers.SkipField:
                continue
            data[field.field_name] = (
                None if attribute is None else field.to_representation(attribute)
            )
        return data


# Fields whose output depends on the serializer they are bound to.
CONTEXTUAL_FIELDS = (
    serializers.SerializerMethodField,
    serializers.RelatedField,
    serializers.ManyRelatedField,
    serializers.HiddenField,
)


class StrictSerializer(serializers.Serializer):
    """Rejects fields it does not know instead of silently dropping them,
    so a client typo (``titel``) or an attempt to set ``status`` or
    ``created_at`` is a 400 that names the field. ``read_only_names`` are
    fields the resource has but a client may not write here."""

    read_only_names: tuple[str, ...] = ()

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            errors = {}
            for name in data:
                if name in self.fields and not self.fields[name].read_only:
                    continue
                errors[str(name)[:100]] = [
                    "This field is read-only." if name in self.read_only_names
                    else "Unknown field."
                ]  # fmt: skip
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


@extend_schema_field({"type": "string", "format": "decimal", "example": "12.5"})
class ExactDecimalField(serializers.DecimalField):
    """A positive exact decimal: accepted as a JSON number or string, given
    back as a string (``"12.5"``) so no client parses it through a float."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", 15)
        kwargs.setdefault("decimal_places", 4)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Decimal:
        if isinstance(data, bool):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if value <= 0:
            raise serializers.ValidationError("Must be greater than zero.")
        return value.normalize() if value == value.to_integral_value() else value

    def to_representation(self, value: Any) -> str:
        return format(Decimal(value).normalize(), "f")


class WholeNumberField(serializers.IntegerField):
    """An integer sent as a JSON number: not ``"12"``, ``12.0`` or ``true``,
    which DRF's own field would take."""

    def to_internal_value(self, data: Any) -> int:
        if type(data) is not int:
            self.fail("invalid")
        return super().to_internal_value(data)


class UuidTextField(serializers.UUIDField):
    """A UUID written as text. DRF's own field also takes a JSON integer
    (123 becomes ``00000000-0000-0000-0000-00000000007b``), a wrong type
    that should be a 400 like any other."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class TimezoneField(serializers.CharField):
    """An IANA timezone name such as ``Europe/Paris``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 64)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        name = super().to_internal_value(data)
        if name not in _zone_names():
            raise serializers.ValidationError("Not an IANA timezone name (e.g. Europe/Paris).")
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise serializers.ValidationError("Unknown timezone.") from None
        return name


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    """Read once, on first use: listing the zone files is not free.
    ``localtime`` is the host's own zone (a symlink some systems keep among
    the zone files), not an IANA name: it would mean different things on a
    laptop and on Lambda."""
    return frozenset(available_timezones() - {"localtime"})


@extend_schema_field(OpenApiTypes.DATETIME)
class Rfc3339Field(serializers.Field):
    """Output-only: an aware datetime as RFC 3339 in UTC."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> str:
        return rfc3339(value)


@extend_schema_field(OpenApiTypes.DATETIME)
class AwareDateTimeField(serializers.Field):
    """An RFC 3339 moment with its UTC offset (``2026-11-28T23:30:00+01:00``
    or ``...Z``); a time without an offset is ambiguous and refused."""

    default_error_messages = {
        "invalid": "Must be an RFC 3339 date and time, e.g. 2026-11-28T07:30:00+01:00.",
        "naive": "Needs a UTC offset (e.g. +01:00 or Z).",
    }

    def to_internal_value(self, data: Any) -> datetime:
        if not isinstance(data, str) or len(data) > 40 or "T" not in data.upper():
            self.fail("invalid")
        try:
            value = datetime.fromisoformat(data)
        except ValueError:
            self.fail("invalid")
        if value.utcoffset() is None:
            self.fail("naive")
        return value.astimezone(UTC)

    def to_representation(self, value: Any) -> str:
        return rfc3339(value)
