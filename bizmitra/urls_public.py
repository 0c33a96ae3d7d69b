"""URLs of the platform host, and of host-agnostic paths on any host."""

from django.contrib import admin
from django.urls import include, path

from bizmitra.health import healthz

admin.site.site_header = "BizMitra platform"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("webhooks/", include("conversations.whatsapp.urls")),
    path("api/workflows/", include("workflows.api.public_urls")),
    path("admin/", admin.site.urls),
]
