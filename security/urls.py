"""The security settings pages (mounted at /settings/ by bizmitra.urls_tenant)."""

from django.urls import path

from security import views

urlpatterns = [
    path("security/", views.security_page, name="settings-security"),
    path("security/lockouts/<int:attempt_id>/unlock/", views.lockout_unlock, name="settings-lockout-unlock"),
    path("audit/", views.audit_page, name="settings-audit"),
]
