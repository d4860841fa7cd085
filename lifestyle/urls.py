from django.urls import include, path

from lifestyle import openapi
from lifestyle.views import HealthApi

api_v1 = [
    path("health", HealthApi.as_view(), name="health"),
    path("goals", include("goals.urls")),
    path("", include("activities.urls")),
    path("", include("accounts.urls")),
    path("", include("sync.urls")),
    path("schema/", openapi.schema, name="schema"),
    path("docs/", openapi.docs, name="docs"),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("ops/", include("ops_admin.urls")),
]

handler400 = "lifestyle.errors.handler400"
handler403 = "lifestyle.errors.handler403"
handler404 = "lifestyle.errors.handler404"
handler500 = "lifestyle.errors.handler500"
