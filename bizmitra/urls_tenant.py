"""URLs of a tenant's own domain: dashboard, tenant admin, REST API."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework_simplejwt.views import TokenRefreshView

from bizmitra.admin_sites import move_celery_beat_admin
from bizmitra.health import healthz
from bizmitra.openapi import SchemaView
from tenants.api.auth_views import TenantTokenObtainPairView
from tenants.api.views import WhoAmIApi

# Tenant domains mount Django's default site, which holds tenant models only.
move_celery_beat_admin()
admin.site.site_header = "BizMitra"

# A URL under /api/ that matches no route (a path parameter of the wrong form) is an API 404.
handler404 = "bizmitra.errors.not_found"

urlpatterns = [
    path("healthz", healthz),
    path("login/", auth_views.LoginView.as_view(template_name="login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/auth/token/", TenantTokenObtainPairView.as_view(), name="token_obtain"),
    path("api/auth/token/refresh/", TokenRefreshView.as_view(), name="token_refresh"),
    path("api/me/", WhoAmIApi.as_view(), name="api-me"),
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("leads.api.urls")),
    path("api/", include("templates.api.urls")),
    path("api/ai/", include("conversations.ai.urls")),
    path("api/", include("conversations.engine.urls")),
    path("api/", include("conversations.api.urls")),
    path("api/workflows/", include("workflows.api.urls")),
    # documents (issue 12): API, signed media links, pages
    path("api/", include("documents.api.urls")),
    path("", include("documents.urls")),
    # leads board, lead page and analytics (issue 11)
    path("", include("leads.urls")),
    # settings: API keys, team, WhatsApp numbers; the invitation link (issue 11 §4)
    path("", include("tenants.settings_pages.urls")),
    # sign-up: the first-run checklist and the sign-in hand-off (issue 11 §5)
    path("", include("tenants.signup.tenant_urls")),
    # security settings: sign-in lockouts and the audit log (issue 13 §3)
    path("settings/", include("security.urls")),
    path("", include("conversations.urls")),
]
