from django.urls import path

from goals.apis import GoalArchiveApi, GoalDetailApi, GoalListCreateApi, GoalUnarchiveApi

urlpatterns = [
    path("", GoalListCreateApi.as_view(), name="goal-list"),
    path("/<str:goal_id>", GoalDetailApi.as_view(), name="goal-detail"),
    path("/<str:goal_id>/archive", GoalArchiveApi.as_view(), name="goal-archive"),
    path("/<str:goal_id>/unarchive", GoalUnarchiveApi.as_view(), name="goal-unarchive"),
]
