"""Views that belong to no app."""

from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from lifestyle.schema import extend_schema


class HealthApi(APIView):
    """Liveness for load balancers and the smoke test: touches nothing."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(
        summary="Is the API up?",
        responses=inline_serializer("Health", {"status": serializers.CharField()}),
        auth=[],
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})
