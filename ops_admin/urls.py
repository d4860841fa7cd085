"""The staff console, under ``/ops/``: one module of views per area."""

from django.urls import include, path

from ops_admin.views import audit, backups, health, session, users

app_name = "ops"

urlpatterns = [
    path("", include(session.urlpatterns)),
    path("users", include(users.urlpatterns)),
    path("backups", include(backups.urlpatterns)),
    path("health", include(health.urlpatterns)),
    path("audit", include(audit.urlpatterns)),
]
