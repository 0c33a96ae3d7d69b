"""Routes under ``/api/ai/`` (included from ``bizmitra/urls_tenant.py``); the trailing slash is optional."""

from django.urls import re_path

from conversations.ai.views import AISettingsApi, KnowledgeFetchApi, KnowledgeJobApi

urlpatterns = [
    re_path(r"^settings/?$", AISettingsApi.as_view(), name="ai-settings"),
    re_path(r"^knowledge/fetch/?$", KnowledgeFetchApi.as_view(), name="ai-knowledge-fetch"),
    re_path(r"^knowledge/jobs/(?P<job_id>[0-9a-fA-F-]{36})/?$", KnowledgeJobApi.as_view(), name="ai-knowledge-job"),
]
