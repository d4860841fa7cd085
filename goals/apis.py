"""The goals API: create_goal, get_goal, list_goals, update_goal and
archive_goal from the runbook, as thin views over services and selectors."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from activities.periods import MAX_DAY_START_HOUR, WEEK_STARTS
from goals import selectors, services
from goals.models import KINDS, PERIODS, STATUSES, Goal
from lifestyle.http import etag_for, if_match_version
from lifestyle.pagination import PageQuerySerializer, decode_cursor, encode_cursor, page_response
from lifestyle.schema import COMMON_ERRORS, WRITE_ERRORS, error, extend_schema
from lifestyle.serializers import (
    ExactDecimalField,
    OutputSerializer,
    Rfc3339Field,
    StrictSerializer,
    TimezoneField,
    UuidTextField,
    WholeNumberField,
)

READ_ONLY = ("created_at", "updated_at", "version", "archived_at")


class GoalOutputSerializer(OutputSerializer):
    id = serializers.CharField(source="goal_id")
    title = serializers.CharField()
    description = serializers.CharField()
    category = serializers.CharField()
    kind = serializers.ChoiceField(choices=KINDS)
    unit = serializers.CharField()
    target = ExactDecimalField(allow_null=True)
    period = serializers.ChoiceField(choices=PERIODS)
    start_date = serializers.DateField()
    due_date = serializers.DateField(allow_null=True)
    timezone = serializers.CharField()
    week_start = serializers.ChoiceField(choices=tuple(WEEK_STARTS))
    day_start_hour = serializers.IntegerField()
    status = serializers.ChoiceField(choices=STATUSES)
    archived_at = Rfc3339Field(allow_null=True)
    created_at = Rfc3339Field()
    updated_at = Rfc3339Field()
    version = serializers.IntegerField()


def goal_response(goal: Goal, *, status_code: int = 200, **headers: str) -> Response:
    return Response(
        GoalOutputSerializer(goal).data,
        status=status_code,
        headers={"ETag": etag_for(goal.version), **headers},
    )


class GoalFieldsSerializer(StrictSerializer):
    """The fields a client writes, shared by create and update."""

    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=2000, allow_blank=True, trim_whitespace=False)
    category = serializers.CharField(max_length=50, allow_blank=True)
    unit = serializers.CharField(max_length=30, allow_blank=True)
    target = ExactDecimalField(allow_null=True)
    start_date = serializers.DateField()
    due_date = serializers.DateField(allow_null=True)


class GoalListCreateApi(APIView):
    class GoalCreateInputSerializer(GoalFieldsSerializer):
        read_only_names = ("status", *READ_ONLY)

        id = UuidTextField(required=False, help_text="Your own UUID, for safe retries.")
        kind = serializers.ChoiceField(choices=KINDS)
        period = serializers.ChoiceField(choices=PERIODS, required=False)
        timezone = TimezoneField(required=False, help_text="IANA name; default: your profile's.")
        week_start = serializers.ChoiceField(
            choices=tuple(WEEK_STARTS), required=False, help_text="Default: your profile's."
        )
        day_start_hour = WholeNumberField(
            min_value=0,
            max_value=MAX_DAY_START_HOUR,
            required=False,
            help_text="A moment before this local hour counts for the day before. "
            "Default: your profile's.",
        )

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            for name in ("description", "category", "unit", "target", "start_date", "due_date"):
                self.fields[name].required = False

    class ListQuerySerializer(PageQuerySerializer):
        status = serializers.ChoiceField(choices=STATUSES, required=False)

    @extend_schema(
        operation_id="list_goals",
        summary="List your goals",
        parameters=[ListQuerySerializer],
        responses={
            200: inline_serializer(
                "GoalPage",
                {
                    "items": GoalOutputSerializer(many=True),
                    "next_cursor": serializers.CharField(
                        allow_null=True,
                        help_text="Pass as ?cursor= for the next page; null at the end.",
                    ),
                },
            ),
            400: error("Bad limit, status or cursor."),
            **COMMON_ERRORS,
        },
    )
    def get(self, request: Request) -> Response:
        query = self.ListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        user_id = request.user.user_id
        scope = f"goals:{params.get('status', '')}"
        goals, last_key = selectors.goal_list(
            user_id=user_id,
            status=params.get("status"),
            limit=params["limit"],
            start_key=decode_cursor(params.get("cursor"), user_id=user_id, scope=scope),
        )
        return Response(
            page_response(
                GoalOutputSerializer(goals, many=True).data,
                encode_cursor(last_key, user_id=user_id, scope=scope),
            )
        )

    @extend_schema(
        operation_id="create_goal",
        summary="Create a goal (idempotent with your own id)",
        request=GoalCreateInputSerializer,
        responses={
            201: GoalOutputSerializer,
            409: error("Another goal has this id."),
            **WRITE_ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = self.GoalCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "id" in data:
            data["goal_id"] = str(data.pop("id"))
        goal, created = services.goal_create(user_id=request.user.user_id, **data)
        location = request.build_absolute_uri(reverse("goal-detail", args=[goal.goal_id]))
        headers = {"Location": location}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        return goal_response(goal, status_code=status.HTTP_201_CREATED, **headers)


IF_MATCH = OpenApiParameter(
    "If-Match", location=OpenApiParameter.HEADER, required=True,
    description="The goal's ETag as you last read it.",
)  # fmt: skip
IF_MATCH_OPTIONAL = OpenApiParameter(
    "If-Match", location=OpenApiParameter.HEADER, required=False,
    description="Only act if the goal still has this ETag.",
)  # fmt: skip


class GoalDetailApi(APIView):
    class GoalUpdateInputSerializer(GoalFieldsSerializer):
        read_only_names = (
            "id", "kind", "period", "timezone", "week_start", "day_start_hour", *READ_ONLY
        )  # fmt: skip

        status = serializers.ChoiceField(
            choices=("active", "completed"), help_text="Archive with POST .../archive."
        )

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["partial"] = True
            super().__init__(*args, **kwargs)

    @extend_schema(
        operation_id="get_goal",
        summary="Get a goal",
        responses={200: GoalOutputSerializer, 404: error("No such goal."), **COMMON_ERRORS},
    )
    def get(self, request: Request, goal_id: str) -> Response:
        return goal_response(selectors.goal_get(user_id=request.user.user_id, goal_id=goal_id))

    @extend_schema(
        operation_id="update_goal",
        summary="Change a goal's fields",
        parameters=[IF_MATCH],
        request=GoalUpdateInputSerializer,
        responses={
            200: GoalOutputSerializer,
            404: error("No such goal."),
            409: error("The goal is archived."),
            412: error("The goal changed since you read it."),
            428: error("If-Match is missing."),
            **WRITE_ERRORS,
        },
    )
    def patch(self, request: Request, goal_id: str) -> Response:
        version = if_match_version(request, required=True)
        serializer = self.GoalUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        goal = services.goal_update(
            user_id=request.user.user_id,
            goal_id=goal_id,
            changes=dict(serializer.validated_data),
            expected_version=version,
        )
        return goal_response(goal)


# Shared by archive and unarchive: a subclass's extend_schema replaces, not
# extends, its parent's, so unarchive names these again.
ARCHIVE_SCHEMA: dict[str, Any] = {
    "parameters": [IF_MATCH_OPTIONAL],
    "request": None,
    "responses": {
        200: GoalOutputSerializer,
        404: error("No such goal."),
        412: error("The goal changed since you read it."),
        **COMMON_ERRORS,
    },
}


class GoalArchiveApi(APIView):
    archive = True

    @extend_schema(
        operation_id="archive_goal",
        summary="Archive a goal (no-op if already archived)",
        **ARCHIVE_SCHEMA,
    )
    def post(self, request: Request, goal_id: str) -> Response:
        service = services.goal_archive if self.archive else services.goal_unarchive
        goal = service(
            user_id=request.user.user_id,
            goal_id=goal_id,
            expected_version=if_match_version(request, required=False),
        )
        return goal_response(goal)


class GoalUnarchiveApi(GoalArchiveApi):
    archive = False

    @extend_schema(
        operation_id="unarchive_goal",
        summary="Make an archived goal active again (no-op if not archived)",
        **ARCHIVE_SCHEMA,
    )
    def post(self, request: Request, goal_id: str) -> Response:
        return super().post(request, goal_id)
