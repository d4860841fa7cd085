"""``/api/v1/me/export``: export everything you have (GDPR articles 15 and
20), as thin views over :mod:`accounts.exports`."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import exports
from lifestyle.schema import COMMON_ERRORS, WRITE_ERRORS, error, extend_schema
from lifestyle.serializers import Rfc3339Field, StrictSerializer

# The body may carry a presigned link: no cache may keep it.
NO_STORE = {"Cache-Control": "no-store"}


class ExportCountsSerializer(serializers.Serializer):
    goals = serializers.IntegerField()
    activities = serializers.IntegerField()
    attachments = serializers.IntegerField(help_text="Files in the zip.")


@extend_schema_serializer(component_name="Export")
class ExportOutputSerializer(serializers.Serializer):
    """An export of all your data, and how far it has got."""

    id = serializers.CharField(source="job.export_id")
    status = serializers.ChoiceField(
        choices=exports.STATUSES,
        help_text="pending, then running, then ready or failed. Poll until ready or failed.",
    )
    created_at = Rfc3339Field(source="job.created_at")
    started_at = Rfc3339Field(source="job.started_at", allow_null=True)
    finished_at = Rfc3339Field(source="job.finished_at", allow_null=True)
    counts = ExportCountsSerializer(allow_null=True, help_text="Null until ready.")
    size = serializers.IntegerField(
        source="job.size_bytes", allow_null=True, help_text="The zip's size in bytes, when ready."
    )
    error = serializers.ChoiceField(
        choices=exports.FAILURE_CODES,
        allow_null=True,
        help_text="Why it failed (failed only). " + " ".join(
            f"`{code}`: {message}" for code, message in exports.FAILURE_REASONS.items()
        ),
    )  # fmt: skip
    download_url = serializers.URLField(
        allow_null=True,
        help_text="When ready: a presigned GET of the zip, good for 10 minutes. "
        "Fetch this resource again for a new one.",
    )
    download_expires_at = Rfc3339Field(allow_null=True)
    expires_at = Rfc3339Field(
        help_text="When the export and its file are deleted (7 days after it was made)."
    )


@extend_schema_serializer(component_name="ExportStarted")
class ExportStartedSerializer(ExportOutputSerializer):
    status_url = serializers.URLField(help_text="GET it for the export's state.")


class ExportStartApi(APIView):
    # Each export zips all of a user's data: its own, stricter request limit
    # (settings.RATE_LIMITS, lifestyle/ratelimit.py).
    rate_limit_scope = "export"

    @extend_schema_serializer(component_name="ExportStart")
    class InputSerializer(StrictSerializer):
        """No fields: an empty body or ``{}``."""

    @extend_schema(
        operation_id="start_export",
        summary="Export all your data (GDPR articles 15 and 20)",
        description=(
            "Starts a zip of your profile, goals, activities and attachment files, "
            "with a README.txt explaining each file. Poll `status_url` (also in "
            "`Location`) until `status` is ready, then download from `download_url`. "
            "While an export is pending or running, this returns that one."
        ),
        request=None,
        responses={202: ExportStartedSerializer, **WRITE_ERRORS},
    )
    def post(self, request: Request) -> Response:
        self.InputSerializer(data=request.data).is_valid(raise_exception=True)
        state, _created = exports.export_start(user_id=request.user.user_id)
        url = request.build_absolute_uri(reverse("me-export-detail", args=[state.job.export_id]))
        body = {**ExportOutputSerializer(state).data, "status_url": url}
        return Response(
            body, status=status.HTTP_202_ACCEPTED, headers={"Location": url, **NO_STORE}
        )


class ExportDetailApi(APIView):
    @extend_schema(
        operation_id="get_export",
        summary="An export's state and, when ready, its download link",
        responses={
            200: ExportOutputSerializer,
            404: error("No such export, or it has expired."),
            **COMMON_ERRORS,
        },
    )
    def get(self, request: Request, export_id: str) -> Response:
        state = exports.export_get(user_id=request.user.user_id, export_id=export_id)
        return Response(ExportOutputSerializer(state).data, headers=NO_STORE)
