"""Logging many activities in one request: what a mobile client sends when
it comes back online with a queue of activities logged offline.

Each item is the single ``log_activity`` request with its goal named in the
body: the same input serializer, the same service (``activity_log``), the
same error for the same mistake. Items are answered one by one, in request
order, so one bad item never sinks the others and the client can tell
which of its queued activities to drop (4xx), to retry (503) or to mark as
synced (201 created, 200 already there).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from drf_spectacular.utils import OpenApiResponse, extend_schema_field, extend_schema_serializer
from pynamodb.exceptions import PynamoDBException
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from activities import services
from activities.apis import ActivityOutputSerializer, GoalActivityListCreateApi
from activities.models import Activity
from lifestyle.errors import ApplicationError, ServiceUnavailable, api_exception_handler
from lifestyle.schema import COMMON_ERRORS, ErrorDetailSerializer, error, extend_schema
from lifestyle.serializers import StrictSerializer, UuidTextField

MAX_ITEMS = 100

# What a failed item can raise that the API's error handler turns into the
# one error shape: our own errors, DRF's validation errors, and AWS being
# busy or unreachable (503). Anything else is a bug and still a 500.
ITEM_ERRORS = (ApplicationError, ValidationError, BotoCoreError, ClientError, PynamoDBException)


class GoalIdField(serializers.CharField):
    """A goal id as JSON text. DRF's CharField would also take ``123`` and
    look for goal "123"; a number here is a wrong type, so a 400. Text that
    is no goal id is a 404, as in the single endpoint's URL."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


@extend_schema_serializer(component_name="ActivityBatchItemInput")
class ActivityBatchItemInputSerializer(GoalActivityListCreateApi.ActivityCreateInputSerializer):
    """One activity, as log_activity takes it, with its goal named in `goal_id`."""

    # The id is required here: without one, a batch resent after a lost
    # response would log every activity twice. ``goal_id``, read-only in the
    # parent, is a field here: a declared field is accepted whatever
    # ``read_only_names`` says.
    id = UuidTextField(help_text="Your own UUID: a resent batch logs nothing twice.")
    goal_id = GoalIdField(help_text="One of your goals.")


@extend_schema_field(ActivityBatchItemInputSerializer(many=True))
class ItemListField(serializers.ListField):
    """The items, left unvalidated here: each is validated on its own so a
    bad one is that item's error, not the whole batch's."""


@extend_schema_serializer(component_name="ActivityBatchInput")
class ActivityBatchInputSerializer(StrictSerializer):
    """The activities to log, in the order to log them."""

    activities = ItemListField(min_length=1, max_length=MAX_ITEMS)


@extend_schema_serializer(component_name="ActivityBatchItemResult")
class ItemResultSerializer(serializers.Serializer):
    """What happened to one item: `activity` when it is logged, `error` when not."""

    index = serializers.IntegerField(help_text="The item's position in the request, from 0.")
    id = serializers.CharField(
        allow_null=True, help_text="The item's id, canonical; null when it sent no valid UUID."
    )
    status = serializers.ChoiceField(choices=("created", "duplicate", "error"))
    status_code = serializers.IntegerField(
        help_text="What log_activity would have answered for this item alone "
        "(201, 200 for an activity already logged, 4xx, 503)."
    )
    activity = ActivityOutputSerializer(
        required=False, help_text="For created and duplicate: the stored activity."
    )
    error = ErrorDetailSerializer(required=False, help_text="For error.")


@extend_schema_serializer(component_name="ActivityBatchResult")
class BatchResultSerializer(serializers.Serializer):
    results = ItemResultSerializer(many=True)
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    errors = serializers.IntegerField()


BATCH_DESCRIPTION = f"""\
Logs up to {MAX_ITEMS} activities, each exactly as `log_activity` would, in the order sent
(two items of one goal never race). Every item needs your own UUID in `id`, so resending a
batch whose answer was lost logs nothing twice.

The answer is **200 whenever the batch itself is well formed**, with one result per item in
`results` (same order, `index` from 0): `created` (201), `duplicate` (200: already logged with
this id and the same fields, e.g. by an earlier batch or an earlier item of this one) or
`error` with the status and error `log_activity` would have given (400 invalid fields, 404 no
such goal, 409 archived goal or another activity with this id, 503 busy). Drop or fix the
4xx items; resend the 503 ones after a second or so. After the first 503 the remaining items
are not attempted and are answered 503 too.

The body is limited to 64 KB like every request (413 before anything is logged): 100 items
with short notes fit, 100 items with 1000-character notes do not; split such a queue into
smaller batches."""


def _canonical_id(item: Any) -> str | None:
    """The item's id as it is stored, for its result; None when it sent no
    UUID. Never the raw text: it may be huge or not encodable as JSON."""
    raw = item.get("id") if isinstance(item, Mapping) else None
    if not isinstance(raw, str):
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return None


def _created(index: int, activity: Activity, created: bool) -> dict[str, Any]:
    return {
        "index": index,
        "id": activity.activity_id,
        "status": "created" if created else "duplicate",
        "status_code": 201 if created else 200,
        "activity": ActivityOutputSerializer(activity).data,
    }


def _failed(index: int, item: Any, status_code: int, error_detail: Any) -> dict[str, Any]:
    return {
        "index": index,
        "id": _canonical_id(item),
        "status": "error",
        "status_code": status_code,
        "error": error_detail,
    }


class ActivityBatchLogApi(APIView):
    @extend_schema(
        operation_id="log_activities_batch",
        summary=f"Log up to {MAX_ITEMS} activities at once; 200 with a result per item",
        description=BATCH_DESCRIPTION,
        request=ActivityBatchInputSerializer,
        responses={
            200: OpenApiResponse(
                BatchResultSerializer, description="The batch was read; each item's outcome."
            ),
            400: error(f"`activities` is missing, not a list, empty or over {MAX_ITEMS} items."),
            413: error("Body over 64 KB: split the batch."),
            415: error("Body is not JSON."),
            **COMMON_ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        envelope = ActivityBatchInputSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        results: list[dict[str, Any]] = []
        busy: dict[str, Any] | None = None
        # Strictly one after another: items of one goal must not race for its
        # totals, and a retried item must see what an earlier one stored.
        for index, item in enumerate(envelope.validated_data["activities"]):
            if busy is not None:
                results.append(_failed(index, item, ServiceUnavailable.status, busy))
                continue
            result = self._log_one(request, index, item)
            if result["status_code"] == ServiceUnavailable.status:
                # DynamoDB is throttling or out of reach: going on would only
                # add load and run the request towards Lambda's timeout.
                busy = {
                    "code": ServiceUnavailable.code,
                    "message": "Not attempted: an earlier item found the service busy; "
                    "retry shortly.",
                }
            results.append(result)
        # 200, not 201 or 207: the batch was accepted and answered, and what
        # happened to each item is in its own status_code. A mixed outcome is
        # no single creation (201), and 207 Multi-Status is WebDAV's XML
        # convention that client libraries and API Gateway treat oddly. An
        # error status for the whole would tell the client to retry or drop
        # every item, when only some failed.
        counts = Counter(result["status"] for result in results)
        return Response(
            {
                "results": results,
                "created": counts["created"],
                "duplicates": counts["duplicate"],
                "errors": counts["error"],
            }
        )

    def _log_one(self, request: Request, index: int, item: Any) -> dict[str, Any]:
        """One item, validated and logged exactly as ``log_activity`` would
        log it; its failure answered in the API's error shape (the same
        handler turns it into the status and body the single endpoint gives)."""
        try:
            serializer = ActivityBatchItemInputSerializer(data=item)
            serializer.is_valid(raise_exception=True)
            data = dict(serializer.validated_data)
            activity, created = services.activity_log(
                user_id=request.user.user_id,
                goal_id=data.pop("goal_id"),
                activity_id=str(data.pop("id")),
                **data,
            )
        except ITEM_ERRORS as exc:
            answer = api_exception_handler(exc, {"view": self, "request": request})
            if answer is None:  # never for ITEM_ERRORS; a bug otherwise
                raise
            return _failed(index, item, answer.status_code, answer.data["error"])
        return _created(index, activity, created)
