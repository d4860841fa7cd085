"""The staff console's pages (``/ops/``). Each module holds one area's views
and its ``urlpatterns``; ``ops_admin.urls`` gathers them."""
