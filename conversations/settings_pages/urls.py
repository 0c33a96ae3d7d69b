"""URLs of the settings pages of part A (mounted at ``/settings/`` by ``conversations.urls``).

API keys, team and numbers live in the tenants app under the same prefix (their own URLconf).
"""

from django.urls import path

from conversations.settings_pages import views

urlpatterns = [
    path("", views.settings_index, name="dashboard-settings"),
    path("profile/", views.profile_page, name="settings-profile"),
    path("ai/", views.ai_page, name="settings-ai"),
    path("ai/test/", views.ai_prompt_test, name="settings-ai-test"),
    path("knowledge/", views.knowledge_page, name="settings-knowledge"),
    path("knowledge/fetch/", views.knowledge_fetch, name="settings-knowledge-fetch"),
    path("knowledge/jobs/<uuid:job_id>/", views.knowledge_job, name="settings-knowledge-job"),
]
