"""API rate limits: per user, per API key, a separate budget for client websites' workflow
trigger API, and per address for anonymous calls (the JWT token endpoint).

DRF's throttles keep their windows in Django's cache, which is Redis (shared by every web
worker; keys carry the tenant's schema through django-tenants' key function). Rates are read
from ``settings.API_THROTTLE_RATES`` on each request, not at import as DRF's own classes do,
so an environment change needs no code and a test can override them. A refused call is a
429 with ``Retry-After`` (DRF's ``Throttled``, shaped by bizmitra.errors).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from tenants.authentication import ApiKeyPrincipal, ClientApiKeyAuthentication


def _key_ident(raw_key) -> str:
    return hashlib.sha256(str(raw_key).encode()).hexdigest()[:32]


class _SettingsRateThrottle(SimpleRateThrottle):
    def __init__(self):  # DRF's reads the rate here; ours in allow_request
        pass

    def get_rate(self) -> str | None:
        return settings.API_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view) -> bool:
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def cache_key_for(self, ident: str) -> str:
        return self.cache_format % {"scope": self.scope, "ident": ident}


class UserRateThrottle(_SettingsRateThrottle):
    """A signed-in person (session or JWT), per user."""

    scope = "user"

    def get_cache_key(self, request, view):
        user = request.user
        if isinstance(user, ApiKeyPrincipal) or not getattr(user, "is_authenticated", False):
            return None
        return self.cache_key_for(str(user.pk))


def _is_client_api(request) -> bool:
    return isinstance(getattr(request, "successful_authenticator", None), ClientApiKeyAuthentication)


class ApiKeyRateThrottle(_SettingsRateThrottle):
    """A tenant API key used as ``Authorization: Bearer bzm_…``, per key."""

    scope = "api_key"

    def get_cache_key(self, request, view):
        if not isinstance(request.user, ApiKeyPrincipal) or _is_client_api(request):
            return None
        return self.cache_key_for(_key_ident(request.auth))


class WorkflowTriggerRateThrottle(_SettingsRateThrottle):
    """Client websites (``X-Api-Key`` + ``X-Client-Code``: the workflow trigger and job APIs),
    per key, with their own, larger budget: a form on a busy site must not be refused because
    the same business's back office is busy on the API."""

    scope = "workflow_trigger"

    def get_cache_key(self, request, view):
        if not (isinstance(request.user, ApiKeyPrincipal) and _is_client_api(request)):
            return None
        return self.cache_key_for(_key_ident(request.auth))


class AnonRateThrottle(_SettingsRateThrottle):
    """Unauthenticated calls (the token endpoint, refused credentials), per client address."""

    scope = "anon"

    def get_cache_key(self, request, view):
        if getattr(request.user, "is_authenticated", False):
            return None
        return self.cache_key_for(self.get_ident(request))
