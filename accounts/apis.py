"""``/api/v1/me``: the signed-in user's profile."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.models import UNITS, WEEK_STARTS, Profile
from activities.periods import MAX_DAY_START_HOUR
from lifestyle.http import etag_for, if_match_version
from lifestyle.schema import COMMON_ERRORS, WRITE_ERRORS, error, extend_schema
from lifestyle.serializers import (
    Rfc3339Field,
    StrictSerializer,
    TimezoneField,
    WholeNumberField,
)


class ProfileOutputSerializer(serializers.Serializer):
    display_name = serializers.CharField()
    timezone = serializers.CharField(help_text="IANA name; new goals start with it.")
    week_start = serializers.ChoiceField(choices=WEEK_STARTS)
    day_start_hour = serializers.IntegerField(
        help_text="A moment before this local hour counts for the previous day."
    )
    units = serializers.ChoiceField(choices=UNITS)
    created_at = Rfc3339Field(allow_null=True, help_text="Null until first saved.")
    updated_at = Rfc3339Field(allow_null=True)
    version = serializers.IntegerField(help_text="0 until first saved.")


IF_MATCH = OpenApiParameter(
    "If-Match",
    location=OpenApiParameter.HEADER,
    required=False,
    description='Only save if the profile still has this ETag ("0": never saved).',
)


def profile_response(profile: Profile) -> Response:
    return Response(
        ProfileOutputSerializer(profile).data, headers={"ETag": etag_for(profile.version)}
    )


class MeApi(APIView):
    class ProfileUpdateInputSerializer(StrictSerializer):
        read_only_names = ("created_at", "updated_at", "version")

        display_name = serializers.CharField(max_length=100, allow_blank=True)
        timezone = TimezoneField()
        week_start = serializers.ChoiceField(choices=WEEK_STARTS)
        day_start_hour = WholeNumberField(min_value=0, max_value=MAX_DAY_START_HOUR)
        units = serializers.ChoiceField(choices=UNITS)

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["partial"] = True
            super().__init__(*args, **kwargs)

    @extend_schema(
        operation_id="get_profile",
        summary="Your profile (the defaults until you save one)",
        responses={200: ProfileOutputSerializer, **COMMON_ERRORS},
    )
    def get(self, request: Request) -> Response:
        return profile_response(services.profile_get(user_id=request.user.user_id))

    @extend_schema(
        operation_id="update_profile",
        summary="Change your profile",
        parameters=[IF_MATCH],
        request=ProfileUpdateInputSerializer,
        responses={
            200: ProfileOutputSerializer,
            412: error("The profile changed since you read it."),
            **WRITE_ERRORS,
        },
    )
    def patch(self, request: Request) -> Response:
        version = if_match_version(request, required=False)
        serializer = self.ProfileUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        profile = services.profile_update(
            user_id=request.user.user_id,
            changes=dict(serializer.validated_data),
            expected_version=version,
        )
        return profile_response(profile)
