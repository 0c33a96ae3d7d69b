"""URLs of the settings pages of part A (mounted at ``/settings/`` by ``conversations.urls``).

API keys, team and numbers live in the tenants app under the same prefix (their own URLconf).
"""

from django.urls import path

from conversations.settings_pages import views

urlpatterns = [
    path("", views.settings_index, name="dashboard-settings"),
    path("profile/", views.profile_page, name="settings-profile"),
]
