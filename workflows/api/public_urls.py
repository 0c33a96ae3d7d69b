"""Host-agnostic workflows API for client websites (mounted at /api/workflows/ in the public urlconf)."""

from django.urls import re_path

from workflows.api.views import JobDetailApi, TriggerApi

# The trailing slash is optional: client code is written both ways, and a POST cannot be redirected.
urlpatterns = [
    re_path(r"^trigger/?$", TriggerApi.as_view(), name="workflow-trigger"),
    re_path(r"^jobs/(?P<job_id>[^/]+)/?$", JobDetailApi.as_view(), name="workflow-job-detail"),
]
