from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class HelloApi(APIView):
    def get(self, request: Request) -> Response:
        return Response({"hello": "world"})


urlpatterns = [path("api/v1/goals", HelloApi.as_view())]
