"""Workflows API on the tenant's own domain (mounted at /api/workflows/)."""

from django.urls import path

from workflows.api import public_urls
from workflows.api.views import CallbackSecretApi, WorkflowViewSet

workflow_list = WorkflowViewSet.as_view({"get": "list", "post": "create"})
workflow_detail = WorkflowViewSet.as_view(
    {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}
)

urlpatterns = [
    path("", workflow_list, name="workflow-list"),
    path("<int:pk>/", workflow_detail, name="workflow-detail"),
    path("callback-secret/", CallbackSecretApi.as_view(), name="workflow-callback-secret"),
]

# The client-site endpoints are answered on every host by the public urlconf (the middleware
# sends HOST_AGNOSTIC_PATH_PREFIXES there before this urlconf is consulted); listed here too
# so that the tenant's /api/docs/ documents them, response warnings included.
urlpatterns += public_urls.urlpatterns
