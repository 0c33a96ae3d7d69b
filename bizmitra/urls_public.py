"""URLs of the platform host, and of host-agnostic paths on any host."""

from django.urls import include, path

from bizmitra.admin_sites import move_celery_beat_admin, platform_admin_site
from bizmitra.health import healthz
from bizmitra.metrics import metrics_view

move_celery_beat_admin()

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("webhooks/", include("conversations.whatsapp.urls")),
    path("api/workflows/", include("workflows.api.public_urls")),
    path("admin/", platform_admin_site.urls),
    # self-serve sign-up and Sign in with Google (issue 11 §5)
    path("", include("tenants.signup.public_urls")),
]
