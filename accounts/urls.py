from django.urls import path

from accounts.apis import MeApi
from accounts.export_apis import ExportDetailApi, ExportStartApi

urlpatterns = [
    path("me", MeApi.as_view(), name="me"),
    path("me/export", ExportStartApi.as_view(), name="me-export"),
    path("me/exports/<str:export_id>", ExportDetailApi.as_view(), name="me-export-detail"),
]
