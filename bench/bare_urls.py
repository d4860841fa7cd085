"""Bare DRF views over bench/runbook_ops.py, for the canned-DynamoDB
comparison in ``bench/warm.py``. The user id comes in a header, as if an
authorizer in front had checked it: this app checks nothing."""

from __future__ import annotations

from typing import Any

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bench import runbook_ops


def _answer(request: Request, operation: str, **path: str) -> Response:
    user_id = request.headers["X-Bench-User"]
    version = request.headers.get("If-Match", "").strip('"')
    body: Any = request.data if request.method in ("POST", "PATCH") else {}
    status, payload = runbook_ops.handle(
        operation, user_id, {**path, "version": version}, dict(body or {})
    )
    return Response(payload, status=status)


class Goals(APIView):
    def get(self, request: Request) -> Response:
        return _answer(request, "list_goals")

    def post(self, request: Request) -> Response:
        return _answer(request, "create_goal")


class Goal(APIView):
    def get(self, request: Request, goal_id: str) -> Response:
        return _answer(request, "get_goal", goal_id=goal_id)

    def patch(self, request: Request, goal_id: str) -> Response:
        return _answer(request, "update_goal", goal_id=goal_id)


class Archive(APIView):
    def post(self, request: Request, goal_id: str) -> Response:
        return _answer(request, "archive_goal", goal_id=goal_id)


class Activities(APIView):
    def get(self, request: Request, goal_id: str) -> Response:
        return _answer(request, "list_activities", goal_id=goal_id)

    def post(self, request: Request, goal_id: str) -> Response:
        return _answer(request, "log_activity", goal_id=goal_id)


class Progress(APIView):
    def get(self, request: Request, goal_id: str) -> Response:
        return _answer(request, "get_progress", goal_id=goal_id)


urlpatterns = [
    path("api/v1/goals", Goals.as_view()),
    path("api/v1/goals/<str:goal_id>", Goal.as_view()),
    path("api/v1/goals/<str:goal_id>/archive", Archive.as_view()),
    path("api/v1/goals/<str:goal_id>/activities", Activities.as_view()),
    path("api/v1/goals/<str:goal_id>/progress", Progress.as_view()),
]
