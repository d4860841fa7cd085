from django.urls import path

from sync.apis import SyncApi

urlpatterns = [
    path("sync", SyncApi.as_view(), name="sync"),
]
