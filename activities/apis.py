"""The activities and progress API: log_activity, list_activities and
get_progress from the runbook, plus fixing and deleting activities."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from activities import selectors, services
from activities.models import Activity
from activities.selectors import Progress
from lifestyle.http import etag_for, if_match_version
from lifestyle.pagination import PageQuerySerializer, decode_cursor, encode_cursor, page_response
from lifestyle.schema import COMMON_ERRORS, WRITE_ERRORS, error, extend_schema
from lifestyle.serializers import (
    AwareDateTimeField,
    ExactDecimalField,
    OutputSerializer,
    Rfc3339Field,
    StrictSerializer,
    UuidTextField,
)

VALUE_HELP = (
    "By the goal's kind: habit 1 (or leave out), count a whole number, amount an exact "
    "decimal in the goal's unit, duration whole seconds."
)


class ActivityOutputSerializer(OutputSerializer):
    id = serializers.CharField(source="activity_id")
    goal_id = serializers.CharField()
    value = ExactDecimalField()
    occurred_at = Rfc3339Field()
    local_date = serializers.DateField(
        help_text="The day it counts for, in the goal's calendar (timezone, day-start hour)."
    )
    note = serializers.CharField()
    created_at = Rfc3339Field()
    updated_at = Rfc3339Field()
    version = serializers.IntegerField()


def activity_response(activity: Activity, *, status_code: int = 200, **headers: str) -> Response:
    return Response(
        ActivityOutputSerializer(activity).data,
        status=status_code,
        headers={"ETag": etag_for(activity.version), **headers},
    )


class TimeRangeQuerySerializer(PageQuerySerializer):
    """``?from=`` (inclusive) and ``?to=`` (exclusive), RFC 3339 with offset."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["from"] = AwareDateTimeField(required=False)
        self.fields["to"] = AwareDateTimeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("from") and attrs.get("to") and attrs["from"] >= attrs["to"]:
            raise serializers.ValidationError({"to": ["Must be after 'from'."]})
        return attrs


ACTIVITY_PAGE = inline_serializer(
    "ActivityPage",
    {
        "items": ActivityOutputSerializer(many=True),
        "next_cursor": serializers.CharField(allow_null=True),
    },
)
RANGE_PARAMETERS = [
    OpenApiParameter("from", str, description="RFC 3339, inclusive"),
    OpenApiParameter("to", str, description="RFC 3339, exclusive"),
    OpenApiParameter("limit", int, description="1-100, default 20"),
    OpenApiParameter("cursor", str, description="next_cursor of the previous page"),
]


def list_activities(request: Request, goal_id: str | None) -> Response:
    query = TimeRangeQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    params = query.validated_data
    user_id = request.user.user_id
    start, end = params.get("from"), params.get("to")
    scope = f"activities:{goal_id or '*'}:{start}:{end}"
    items, last_key = selectors.activity_list(
        user_id=user_id,
        goal_id=goal_id,
        start=start,
        end=end,
        limit=params["limit"],
        start_key=decode_cursor(params.get("cursor"), user_id=user_id, scope=scope),
    )
    return Response(
        page_response(
            ActivityOutputSerializer(items, many=True).data,
            encode_cursor(last_key, user_id=user_id, scope=scope),
        )
    )


class GoalActivityListCreateApi(APIView):
    class ActivityCreateInputSerializer(StrictSerializer):
        read_only_names = ("goal_id", "local_date", "created_at", "updated_at", "version")

        id = UuidTextField(required=False, help_text="Your own UUID, for safe retries.")
        value = serializers.JSONField(required=False, help_text=VALUE_HELP)
        occurred_at = AwareDateTimeField()
        note = serializers.CharField(
            max_length=1000, allow_blank=True, required=False, trim_whitespace=False
        )

    @extend_schema(
        operation_id="list_goal_activities",
        summary="A goal's activities, newest first",
        parameters=RANGE_PARAMETERS,
        responses={200: ACTIVITY_PAGE, 400: error("Bad range, limit or cursor."),
                   404: error("No such goal."), **COMMON_ERRORS},
    )  # fmt: skip
    def get(self, request: Request, goal_id: str) -> Response:
        return list_activities(request, goal_id)

    @extend_schema(
        operation_id="log_activity",
        summary="Log an activity (idempotent with your own id)",
        request=ActivityCreateInputSerializer,
        responses={
            201: ActivityOutputSerializer,
            404: error("No such goal."),
            409: error("The goal is archived, or another activity has this id."),
            **WRITE_ERRORS,
        },
    )
    def post(self, request: Request, goal_id: str) -> Response:
        serializer = self.ActivityCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        activity, created = services.activity_log(
            user_id=request.user.user_id,
            goal_id=goal_id,
            activity_id=str(data.pop("id")) if "id" in data else None,
            **data,
        )
        location = request.build_absolute_uri(
            reverse("activity-detail", args=[activity.activity_id])
        )
        headers = {"Location": location}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        return activity_response(activity, status_code=status.HTTP_201_CREATED, **headers)


class ActivityListApi(APIView):
    @extend_schema(
        operation_id="list_activities",
        summary="All your activities, newest first",
        parameters=RANGE_PARAMETERS,
        responses={200: ACTIVITY_PAGE, 400: error("Bad range, limit or cursor."),
                   **COMMON_ERRORS},
    )  # fmt: skip
    def get(self, request: Request) -> Response:
        return list_activities(request, None)


class ActivityDetailApi(APIView):
    class ActivityUpdateInputSerializer(StrictSerializer):
        read_only_names = ("id", "goal_id", "local_date", "created_at", "updated_at", "version")

        value = serializers.JSONField(help_text=VALUE_HELP)
        occurred_at = AwareDateTimeField()
        note = serializers.CharField(max_length=1000, allow_blank=True, trim_whitespace=False)

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["partial"] = True
            super().__init__(*args, **kwargs)

    @extend_schema(
        operation_id="get_activity",
        summary="Get an activity",
        responses={200: ActivityOutputSerializer, 404: error("No such activity."),
                   **COMMON_ERRORS},
    )  # fmt: skip
    def get(self, request: Request, activity_id: str) -> Response:
        return activity_response(
            selectors.activity_get(user_id=request.user.user_id, activity_id=activity_id)
        )

    @extend_schema(
        operation_id="update_activity",
        summary="Fix an activity's value, time or note",
        parameters=[OpenApiParameter("If-Match", location=OpenApiParameter.HEADER, required=True)],
        request=ActivityUpdateInputSerializer,
        responses={
            200: ActivityOutputSerializer,
            404: error("No such activity."),
            409: error("The goal is archived."),
            412: error("The activity changed since you read it."),
            428: error("If-Match is missing."),
            **WRITE_ERRORS,
        },
    )
    def patch(self, request: Request, activity_id: str) -> Response:
        version = if_match_version(request, required=True)
        serializer = self.ActivityUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        activity = services.activity_update(
            user_id=request.user.user_id,
            activity_id=activity_id,
            changes=dict(serializer.validated_data),
            expected_version=version,
        )
        return activity_response(activity)

    @extend_schema(
        operation_id="delete_activity",
        summary="Delete an activity and its attachments",
        parameters=[OpenApiParameter("If-Match", location=OpenApiParameter.HEADER)],
        responses={
            204: None,
            404: error("No such activity."),
            409: error("The goal is archived."),
            412: error("The activity changed since you read it."),
            **COMMON_ERRORS,
        },
    )
    def delete(self, request: Request, activity_id: str) -> Response:
        from activities.attachments import attachment_files_delete

        deleted = services.activity_delete(
            user_id=request.user.user_id,
            activity_id=activity_id,
            expected_version=if_match_version(request, required=False),
        )
        attachment_files_delete(activity=deleted)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Progress ------------------------------------------------------------------


class CurrentPeriodSerializer(OutputSerializer):
    key = serializers.CharField(help_text="e.g. 2026-11-28, 2026-W48, 2026-11")
    start = serializers.DateField()
    end = serializers.DateField(help_text="Inclusive.")
    value = ExactDecimalField()
    target = ExactDecimalField()
    met = serializers.BooleanField()
    activity_count = serializers.IntegerField()


class ProgressOutputSerializer(OutputSerializer):
    goal_id = serializers.CharField(source="goal.goal_id")
    title = serializers.CharField(source="goal.title")
    kind = serializers.CharField(source="goal.kind")
    unit = serializers.CharField(source="goal.unit")
    period = serializers.CharField(source="goal.period")
    timezone = serializers.CharField(source="goal.timezone")
    total = ExactDecimalField()
    target = ExactDecimalField(
        allow_null=True, help_text="The whole goal's target; null for open-ended recurring goals."
    )
    percent = ExactDecimalField(allow_null=True)
    remaining = ExactDecimalField(allow_null=True)
    activity_count = serializers.IntegerField()
    last_activity_at = Rfc3339Field(allow_null=True)
    current_period = CurrentPeriodSerializer(allow_null=True)
    current_streak = serializers.IntegerField(allow_null=True, help_text="Periods met in a row.")
    longest_streak = serializers.IntegerField(allow_null=True)
    pace_per_day = ExactDecimalField()
    pace_needed_per_day = ExactDecimalField(allow_null=True)
    forecast_total = ExactDecimalField(allow_null=True, help_text="At the due date, at this pace.")
    on_track = serializers.BooleanField(allow_null=True)


def progress_data(progress: Progress) -> dict[str, Any]:
    return dict(ProgressOutputSerializer(progress).data)


class GoalProgressApi(APIView):
    @extend_schema(
        operation_id="get_progress",
        summary="A goal's progress: totals, current period, streaks, pace",
        responses={200: ProgressOutputSerializer, 404: error("No such goal."), **COMMON_ERRORS},
    )
    def get(self, request: Request, goal_id: str) -> Response:
        return Response(
            progress_data(selectors.goal_progress(user_id=request.user.user_id, goal_id=goal_id))
        )


class ProgressSummaryApi(APIView):
    @extend_schema(
        operation_id="get_progress_summary",
        summary="Progress of all your active goals",
        parameters=[PageQuerySerializer],
        responses={
            200: inline_serializer(
                "ProgressPage",
                {
                    "items": ProgressOutputSerializer(many=True),
                    "next_cursor": serializers.CharField(allow_null=True),
                },
            ),
            400: error("Bad limit or cursor."),
            **COMMON_ERRORS,
        },
    )
    def get(self, request: Request) -> Response:
        query = PageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        user_id = request.user.user_id
        items, last_key = selectors.progress_summary(
            user_id=user_id,
            limit=query.validated_data["limit"],
            start_key=decode_cursor(
                query.validated_data.get("cursor"), user_id=user_id, scope="progress"
            ),
        )
        return Response(
            page_response(
                [progress_data(item) for item in items],
                encode_cursor(last_key, user_id=user_id, scope="progress"),
            )
        )
