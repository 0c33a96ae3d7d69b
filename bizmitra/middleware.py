"""Tenant resolution for plain HTTP requests."""

from django.conf import settings
from django.db import connection
from django.urls import set_urlconf
from django_tenants.middleware.main import TenantMainMiddleware
from django_tenants.utils import get_public_schema_name


class HostAgnosticTenantMiddleware(TenantMainMiddleware):
    """django-tenants' host → schema routing, except for host-agnostic paths.

    Meta posts webhooks to one URL for every tenant and client websites call the
    trigger API on a shared host, so those paths (``HOST_AGNOSTIC_PATH_PREFIXES``)
    skip the per-request domain lookup and are served by the public urlconf; the
    tenant is picked later from the payload (phone_number_id) or the client code.
    """

    def process_request(self, request):
        if request.path_info.startswith(settings.HOST_AGNOSTIC_PATH_PREFIXES):
            # Only when not already public: set_schema_to_public() makes the next cursor
            # re-send `SET search_path`, a second round trip on the webhook hot path.
            if connection.schema_name != get_public_schema_name():
                connection.set_schema_to_public()
            request.urlconf = settings.PUBLIC_SCHEMA_URLCONF
            set_urlconf(request.urlconf)
            return None
        return super().process_request(request)
