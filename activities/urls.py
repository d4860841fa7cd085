from django.urls import path

from activities.apis import (
    ActivityDetailApi,
    ActivityListApi,
    GoalActivityListCreateApi,
    GoalProgressApi,
    ProgressSummaryApi,
)
from activities.attachment_apis import (
    AttachmentConfirmApi,
    AttachmentDetailApi,
    AttachmentListCreateApi,
)
from activities.batch_apis import ActivityBatchLogApi

urlpatterns = [
    path(
        "goals/<str:goal_id>/activities",
        GoalActivityListCreateApi.as_view(),
        name="goal-activity-list",
    ),
    path("goals/<str:goal_id>/progress", GoalProgressApi.as_view(), name="goal-progress"),
    path("activities", ActivityListApi.as_view(), name="activity-list"),
    # Literal colon (Google's custom-method style); no other route matches it:
    # "activities" is exact and "activities/<str:activity_id>" needs a slash.
    path("activities:batch", ActivityBatchLogApi.as_view(), name="activity-batch"),
    path("activities/<str:activity_id>", ActivityDetailApi.as_view(), name="activity-detail"),
    path(
        "activities/<str:activity_id>/attachments",
        AttachmentListCreateApi.as_view(),
        name="attachment-list",
    ),
    path(
        "activities/<str:activity_id>/attachments/<str:attachment_id>/confirm",
        AttachmentConfirmApi.as_view(),
        name="attachment-confirm",
    ),
    path(
        "activities/<str:activity_id>/attachments/<str:attachment_id>",
        AttachmentDetailApi.as_view(),
        name="attachment-detail",
    ),
    path("progress", ProgressSummaryApi.as_view(), name="progress-summary"),
]
