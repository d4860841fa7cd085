"""``/api/v1/me``: the signed-in user's profile."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import deletion, services
from accounts.models import UNITS, WEEK_STARTS, Profile
from activities.periods import MAX_DAY_START_HOUR
from lifestyle.http import etag_for, if_match_version
from lifestyle.schema import COMMON_ERRORS, WRITE_ERRORS, error, extend_schema
from lifestyle.serializers import (
    OutputSerializer,
    Rfc3339Field,
    StrictSerializer,
    TimezoneField,
    WholeNumberField,
)


class ProfileOutputSerializer(OutputSerializer):
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

    class AccountDeleteInputSerializer(StrictSerializer):
        """The confirmation is a fixed phrase, not the username: many users
        never see their Cognito username (they sign in with an e-mail), and
        the app words and translates its own "type DELETE to confirm" screen,
        then sends the phrase. What it guards against is a DELETE nobody
        meant (a client bug, a replayed or misrouted request)."""

        confirm = serializers.CharField(
            trim_whitespace=False,
            max_length=100,
            help_text=f'Exactly "{deletion.CONFIRMATION}".',
        )

        def validate_confirm(self, value: str) -> str:
            if value != deletion.CONFIRMATION:
                raise serializers.ValidationError(
                    f'Send exactly "{deletion.CONFIRMATION}" to delete your account.'
                )
            return value

    class AccountDeletionOutputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=(deletion.PENDING, deletion.DONE))
        requested_at = Rfc3339Field()
        completed_at = Rfc3339Field(allow_null=True)
        steps_done = serializers.ListField(child=serializers.ChoiceField(choices=deletion.STEPS))
        steps_left = serializers.ListField(child=serializers.ChoiceField(choices=deletion.STEPS))

    @extend_schema(
        operation_id="delete_account",
        summary="Delete your account and all your data (GDPR art. 17)",
        description=(
            "Your sign-ins end at once: this token and every other you hold are refused "
            "within seconds, so a second DELETE is a 401. Then your files, goals, "
            "activities, progress, profile and exports are erased and your user is "
            "deleted. 200: all done. 202: begun, and finished by the server within about "
            "15 minutes (a last check for writes still in flight waits about half a "
            "minute); nothing to retry. A missing or wrong "
            "confirmation is a 400 and changes nothing.\n\n"
            f'Body (JSON): `{{"confirm": "{deletion.CONFIRMATION}"}}`, exactly. (OpenAPI '
            "3.0 tools leave out the body of a DELETE, hence this line; Retrofit needs "
            '`@HTTP(method = "DELETE", hasBody = true)` to send one.)'
        ),
        responses={
            200: AccountDeletionOutputSerializer,
            202: AccountDeletionOutputSerializer,
            **WRITE_ERRORS,
        },
    )
    def delete(self, request: Request) -> Response:
        serializer = self.AccountDeleteInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        state = deletion.account_delete(user_id=request.user.user_id)
        body = self.AccountDeletionOutputSerializer(state).data
        return Response(body, status=200 if state.done else 202)
