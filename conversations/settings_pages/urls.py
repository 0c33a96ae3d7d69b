"""URLs of the settings pages of part A (mounted at ``/settings/`` by ``conversations.urls``).

API keys, team and numbers live in the tenants app under the same prefix (their own URLconf).
"""

from django.urls import path

from conversations.settings_pages import views
from templates import settings_pages as templates_pages

urlpatterns = [
    path("", views.settings_index, name="dashboard-settings"),
    path("profile/", views.profile_page, name="settings-profile"),
    path("bots/", views.bots_page, name="settings-bots"),
    path("bots/new/", views.bot_new, name="settings-bot-new"),
    path("bots/<int:bot_id>/", views.bot_page, name="settings-bot"),
    path("bots/<int:bot_id>/hours/", views.bot_hours, name="settings-bot-hours"),
    path("bots/<int:bot_id>/numbers/", views.bot_numbers, name="settings-bot-numbers"),
    path("bots/<int:bot_id>/schedules/", views.bot_schedule, name="settings-bot-schedule"),
    path("ai/", views.ai_page, name="settings-ai"),
    path("ai/test/", views.ai_prompt_test, name="settings-ai-test"),
    path("templates/", templates_pages.templates_page, name="settings-templates"),
    path("templates/sync/", templates_pages.templates_sync, name="settings-templates-sync"),
    path("templates/sync/<str:job_id>/", templates_pages.templates_sync_job, name="settings-templates-sync-job"),
    path("knowledge/", views.knowledge_page, name="settings-knowledge"),
    path("knowledge/fetch/", views.knowledge_fetch, name="settings-knowledge-fetch"),
    path("knowledge/jobs/<uuid:job_id>/", views.knowledge_job, name="settings-knowledge-job"),
]
