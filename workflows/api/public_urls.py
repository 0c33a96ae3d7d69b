"""Host-agnostic workflows API for client websites (mounted at /api/workflows/ in the public urlconf)."""

from django.urls import path

from workflows.api.views import JobDetailApi, TriggerApi

urlpatterns = [
    path("trigger", TriggerApi.as_view(), name="workflow-trigger"),
    path("trigger/", TriggerApi.as_view()),
    path("jobs/<str:job_id>", JobDetailApi.as_view(), name="workflow-job-detail"),
    path("jobs/<str:job_id>/", JobDetailApi.as_view()),
]
