"""OutputSerializer: DRF's output, without rebuilding the fields per object."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from rest_framework import serializers

from lifestyle.serializers import ExactDecimalField, OutputSerializer, Rfc3339Field


class Period(OutputSerializer):
    key = serializers.CharField()
    value = ExactDecimalField()


class Shape(OutputSerializer):
    id = serializers.CharField(source="thing_id")
    title = serializers.CharField(source="owner.title")
    amount = ExactDecimalField(allow_null=True)
    count = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=("a", "b"))
    done = serializers.BooleanField(allow_null=True)
    at = Rfc3339Field(allow_null=True)
    period = Period(allow_null=True)
    secret = serializers.CharField(write_only=True, required=False)


def plain_copy(cls: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The same declared fields on DRF's own Serializer."""
    declared = {name: field.__deepcopy__({}) for name, field in cls._declared_fields.items()}
    if "period" in declared:
        declared["period"] = plain_copy(Period)(allow_null=True)
    return type(f"Plain{cls.__name__}", (serializers.Serializer,), declared)


THINGS = [
    SimpleNamespace(
        thing_id="01ABC",
        owner=SimpleNamespace(title="Run 🏃 10 km"),
        amount=Decimal("12.50"),
        count=3,
        kind="a",
        done=True,
        at=datetime(2026, 11, 29, 5, 30, tzinfo=UTC),
        period=SimpleNamespace(key="2026-W48", value=Decimal(7)),
        secret="never shown",
    ),
    SimpleNamespace(
        thing_id="01DEF",
        owner=SimpleNamespace(title=""),
        amount=None,
        count=0,
        kind="b",
        done=None,
        at=None,
        period=None,
        secret="never shown",
    ),
]


@pytest.mark.parametrize("thing", THINGS)
def test_the_output_is_drfs_own(thing: Any) -> None:
    assert Shape(thing).data == plain_copy(Shape)(thing).data
    assert "secret" not in Shape(thing).data


def test_lists_match_too() -> None:
    assert Shape(THINGS, many=True).data == plain_copy(Shape)(THINGS, many=True).data


def test_the_fields_are_built_once_per_class() -> None:
    Shape(THINGS[0]).data  # noqa: B018 (builds the fields)
    assert Shape.output_fields() is Shape.output_fields()
    assert Period.output_fields() is not Shape.output_fields()


def test_a_field_that_reads_its_serializer_is_refused() -> None:
    class Contextual(OutputSerializer):
        name = serializers.SerializerMethodField()

        def get_name(self, thing: Any) -> str:
            return str(self.context["request"])

    with pytest.raises(TypeError, match=r"Contextual\.name: SerializerMethodField"):
        Contextual(THINGS[0]).data  # noqa: B018
