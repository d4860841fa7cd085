"""The attachments API: start an upload, confirm it, list and delete, as
thin views over :mod:`activities.attachments`."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_serializer, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from activities import attachments
from activities.models import Attachment
from lifestyle.ids import normalize_id
from lifestyle.schema import COMMON_ERRORS, WRITE_ERRORS, error, extend_schema
from lifestyle.serializers import (
    OutputSerializer,
    Rfc3339Field,
    StrictSerializer,
    WholeNumberField,
)

# Presigned URLs carry signed credentials: no cache may keep them.
NO_STORE = {"Cache-Control": "no-store"}
NOT_FOUND = error("No such activity or attachment.")


@extend_schema_serializer(component_name="Attachment")
class AttachmentOutputSerializer(OutputSerializer):
    """Reads ``{"id": ..., "attachment": Attachment, ...}`` (see ``shown``)."""

    id = serializers.CharField()
    content_type = serializers.CharField(source="attachment.content_type")
    size = serializers.IntegerField(source="attachment.size", help_text="Bytes.")
    status = serializers.ChoiceField(choices=attachments.STATUSES, source="attachment.status")
    created_at = Rfc3339Field(source="attachment.created_at")


def shown(attachment_id: str, attachment: Attachment, **extra: Any) -> dict[str, Any]:
    return {"id": attachment_id, "attachment": attachment, **extra}


@extend_schema_serializer(component_name="AttachmentUploadForm")
class UploadFormSerializer(serializers.Serializer):
    method = serializers.CharField(help_text="Always POST, as multipart/form-data.")
    url = serializers.URLField()
    fields = serializers.DictField(
        child=serializers.CharField(),
        help_text="Send each as a form field, then the file itself as the last field, `file`.",
    )


class AttachmentListCreateApi(APIView):
    # Component names are given: every view's "InputSerializer" would clash.
    @extend_schema_serializer(component_name="AttachmentStart")
    class InputSerializer(StrictSerializer):
        content_type = serializers.ChoiceField(choices=tuple(attachments.ALLOWED_TYPES))
        size = WholeNumberField(
            min_value=1,
            max_value=attachments.MAX_SIZE,
            help_text="The file's exact size in bytes.",
        )

    @extend_schema_serializer(component_name="AttachmentUpload")
    class OutputSerializer(AttachmentOutputSerializer):
        expires_at = Rfc3339Field(help_text="The upload form is good until then.")
        max_size = serializers.IntegerField(help_text="The largest file the API accepts, bytes.")
        upload = UploadFormSerializer()

    @extend_schema_serializer(component_name="AttachmentItem")
    class ItemSerializer(AttachmentOutputSerializer):
        download_url = serializers.URLField(help_text="A presigned GET, good for 5 minutes.")

    @extend_schema(
        operation_id="list_attachments",
        summary="List an activity's confirmed attachments, with download URLs",
        responses={
            200: inline_serializer("AttachmentList", {"items": ItemSerializer(many=True)}),
            404: error("No such activity."),
            **COMMON_ERRORS,
        },
    )
    def get(self, request: Request, activity_id: str) -> Response:
        found = attachments.attachment_list(user_id=request.user.user_id, activity_id=activity_id)
        items = [shown(i, attachment, download_url=url) for i, attachment, url in found]
        return Response({"items": self.ItemSerializer(items, many=True).data}, headers=NO_STORE)

    @extend_schema(
        operation_id="start_attachment_upload",
        summary="Start an upload: a presigned POST to send the file straight to S3",
        description=(
            "Declare the file's type and exact size. Upload it with the returned form "
            "before `expires_at`, then confirm it with POST `.../{attachment_id}/confirm`. "
            f"At most {attachments.MAX_PER_ACTIVITY} attachments per activity."
        ),
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            400: error("Invalid or unknown fields, a type or size not allowed, or too many."),
            404: error("No such activity."),
            **WRITE_ERRORS,
        },
    )
    def post(self, request: Request, activity_id: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        activity, attachment_id, presigned = attachments.attachment_start(
            user_id=request.user.user_id, activity_id=activity_id, **serializer.validated_data
        )
        body = shown(
            attachment_id,
            attachments.attachments_of(activity)[attachment_id],
            expires_at=presigned["expires_at"],
            max_size=attachments.MAX_SIZE,
            upload={"method": "POST", "url": presigned["url"], "fields": presigned["fields"]},
        )
        return Response(
            self.OutputSerializer(body).data, status=status.HTTP_201_CREATED, headers=NO_STORE
        )


class AttachmentConfirmApi(APIView):
    OutputSerializer = AttachmentOutputSerializer

    @extend_schema(
        operation_id="confirm_attachment",
        summary="Confirm an upload: the stored file is checked, then listed",
        description=(
            "The stored file must have the declared size and type and be encrypted; "
            "one that does not is deleted (400 `upload_rejected`). Confirming again is a no-op."
        ),
        request=None,
        responses={
            200: OutputSerializer,
            400: error("The file broke the declared rules and was deleted."),
            404: NOT_FOUND,
            409: error("Nothing uploaded yet (`upload_missing`)."),
            **COMMON_ERRORS,
        },
    )
    def post(self, request: Request, activity_id: str, attachment_id: str) -> Response:
        attachment = attachments.attachment_confirm(
            user_id=request.user.user_id, activity_id=activity_id, attachment_id=attachment_id
        )
        return Response(
            self.OutputSerializer(
                shown(normalize_id(attachment_id) or attachment_id, attachment)
            ).data
        )


class AttachmentDetailApi(APIView):
    @extend_schema(
        operation_id="delete_attachment",
        summary="Delete an attachment and its file",
        request=None,
        responses={204: None, 404: NOT_FOUND, **COMMON_ERRORS},
    )
    def delete(self, request: Request, activity_id: str, attachment_id: str) -> Response:
        attachments.attachment_delete(
            user_id=request.user.user_id, activity_id=activity_id, attachment_id=attachment_id
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
