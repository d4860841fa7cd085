from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from lifestyle.views import HealthApi

api_v1 = [
    path("health", HealthApi.as_view(), name="health"),
    path("goals", include("goals.urls")),
    path("", include("activities.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [path("api/v1/", include(api_v1))]

handler400 = "lifestyle.errors.handler400"
handler403 = "lifestyle.errors.handler403"
handler404 = "lifestyle.errors.handler404"
handler500 = "lifestyle.errors.handler500"
