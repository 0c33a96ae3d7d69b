"""URLs of the API keys, team and numbers settings pages, and the invitation link (mounted at ``/``)."""

from django.urls import path

from tenants.settings_pages import views

urlpatterns = [
    path("settings/api-keys/", views.api_keys_page, name="settings-api-keys"),
    path("settings/api-keys/create/", views.api_key_create, name="settings-api-key-create"),
    path("settings/api-keys/<int:key_id>/revoke/", views.api_key_revoke, name="settings-api-key-revoke"),
    path("settings/api-keys/callback-secret/", views.callback_secret_rotate, name="settings-callback-rotate"),
    path("settings/team/", views.team_page, name="settings-team"),
    path("settings/team/invite/", views.team_invite, name="settings-team-invite"),
    path(
        "settings/team/invitations/<int:invitation_id>/revoke/",
        views.team_invitation_revoke,
        name="settings-team-invitation-revoke",
    ),
    path("settings/team/<int:member_id>/role/", views.team_member_role, name="settings-team-role"),
    path("settings/team/<int:member_id>/active/", views.team_member_active, name="settings-team-active"),
    path("invitations/<str:token>/", views.invitation_accept, name="team-invitation-accept"),
    path("settings/numbers/", views.numbers_page, name="settings-numbers"),
    path("settings/numbers/connect/", views.number_connect, name="settings-number-connect"),
    path("settings/numbers/sandbox/", views.number_connect_sandbox, name="settings-number-sandbox"),
    path("settings/numbers/<int:number_id>/refresh/", views.number_refresh, name="settings-number-refresh"),
]
