"""Workflows API on the tenant's own domain (mounted at /api/workflows/)."""

from django.urls import path

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
