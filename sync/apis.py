"""``GET /api/v1/sync``: what changed on the user's other devices."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.apis import ProfileOutputSerializer
from accounts.models import Profile
from activities.apis import ActivityOutputSerializer
from activities.models import Activity
from goals.apis import GoalOutputSerializer
from goals.models import Goal
from lifestyle.errors import ValidationFailed
from lifestyle.pagination import QuerySerializer, decode_cursor, encode_cursor
from lifestyle.schema import COMMON_ERRORS, error, extend_schema
from lifestyle.serializers import Rfc3339Field
from sync.models import TOMBSTONE_DAYS, Tombstone
from sync.selectors import Position, SyncPage, sync_page

SCOPE = "sync"
MAX_LIMIT = 500
DEFAULT_LIMIT = 200


class DeletedSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=("activity",), source="kind")
    id = serializers.CharField(source="item_id")
    goal_id = serializers.CharField(allow_null=True)
    deleted_at = Rfc3339Field(source="updated_at")


class SyncOutputSerializer(serializers.Serializer):
    snapshot = serializers.BooleanField(
        help_text="True on the pages of a full snapshot (no cursor sent): what they hold "
        "replaces what the device has."
    )
    profile = ProfileOutputSerializer(allow_null=True, help_text="Null if it did not change.")
    goals = GoalOutputSerializer(many=True, help_text="Created or changed (archived too).")
    activities = ActivityOutputSerializer(many=True, help_text="Created or changed.")
    deleted = DeletedSerializer(many=True, help_text="Deleted since the cursor.")
    cursor = serializers.CharField(help_text="Send it back as ?cursor= on the next call.")
    has_more = serializers.BooleanField(help_text="True: call again now with the new cursor.")


def _changes(page: SyncPage) -> dict[str, Any]:
    """The page's items by kind. Items come oldest change first, so when
    an activity was deleted and its id used again in one page, the later
    of the two is what the device ends with."""
    profile: Profile | None = None
    goals: dict[str, Goal] = {}
    activities: dict[str, Activity] = {}
    deleted: dict[str, Tombstone] = {}
    for item in page.items:
        if isinstance(item, Profile):
            profile = item
        elif isinstance(item, Goal):
            goals[item.goal_id] = item
        elif isinstance(item, Activity):
            deleted.pop(item.activity_id, None)
            activities[item.activity_id] = item
        elif isinstance(item, Tombstone):
            activities.pop(item.item_id, None)
            deleted[item.item_id] = item
    return {
        "snapshot": page.snapshot,
        "profile": profile,
        "goals": list(goals.values()),
        "activities": list(activities.values()),
        "deleted": list(deleted.values()),
        "has_more": page.has_more,
    }


class SyncApi(APIView):
    class SyncQuerySerializer(QuerySerializer):
        cursor = serializers.CharField(
            required=False,
            max_length=2048,
            help_text="From the last response; leave out for a full snapshot.",
        )
        limit = serializers.IntegerField(
            min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT, help_text="Items per page."
        )

    @extend_schema(
        operation_id="sync",
        summary="What changed since your cursor (no cursor: everything)",
        description=(
            "Pages through the profile, goals and activities created, changed, archived or "
            "deleted since the cursor, oldest change first; one DynamoDB Query per page. Keep "
            "calling with each new cursor while `has_more` is true, then store the cursor for "
            "the next sync. Apply items by id and `version`: changes of the last seconds may "
            "come again. A deletion supersedes a copy whose `updated_at` is older than its "
            f"`deleted_at`. Deletions are remembered for {TOMBSTONE_DAYS} days: an older cursor "
            "gets 410 "
            "`cursor_expired`, and the device takes a full snapshot instead."
        ),
        parameters=[SyncQuerySerializer],
        responses={
            200: SyncOutputSerializer,
            400: error("Bad limit or cursor (another user's, or edited)."),
            410: error("The cursor is too old: take a full snapshot."),
            **COMMON_ERRORS,
        },
    )
    def get(self, request: Request) -> Response:
        query = self.SyncQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        user_id = request.user.user_id
        raw = decode_cursor(query.validated_data.get("cursor"), user_id=user_id, scope=SCOPE)
        try:
            position = Position.from_dict(raw) if raw is not None else None
        except (KeyError, TypeError):
            raise ValidationFailed(fields={"cursor": ["Invalid cursor."]}) from None
        page = sync_page(user_id=user_id, position=position, limit=query.validated_data["limit"])
        cursor = encode_cursor(page.position.as_dict(), user_id=user_id, scope=SCOPE)
        body = SyncOutputSerializer({**_changes(page), "cursor": cursor}).data
        return Response(body, headers={"Cache-Control": "no-store"})
