"""DRF authentication that is always scoped to one tenant.

Three ways in, all refusing credentials of another tenant:
- ``Authorization: Bearer bzm_…`` — a tenant API key, on that tenant's domain;
- ``Authorization: Bearer <JWT>`` — a token carrying the schema it was issued in;
- ``X-Api-Key`` + ``X-Client-Code`` — client websites on host-agnostic endpoints.
"""

from dataclasses import dataclass

from django.db import connection
from rest_framework import authentication, exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication

from tenants.models import Tenant
from tenants.services import API_KEY_PREFIX, api_key_authenticate

SCHEMA_CLAIM = "schema"


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """The caller behind a tenant API key: a server, not a person."""

    tenant: Tenant
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_staff: bool = False
    is_active: bool = True
    pk: None = None
    id: None = None

    def __str__(self) -> str:
        return f"api-key:{self.tenant.client_code}"

    def has_perm(self, perm, obj=None) -> bool:  # pragma: no cover - API keys have no model perms
        return False


def _bearer_token(request) -> str | None:
    header = authentication.get_authorization_header(request).decode("latin-1")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class TenantApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        token = _bearer_token(request)
        if token is None or not token.startswith(f"{API_KEY_PREFIX}_"):
            return None
        tenant = api_key_authenticate(raw_key=token)
        if tenant is None or tenant.schema_name != connection.schema_name:
            raise exceptions.AuthenticationFailed("Invalid API key for this tenant.")
        return ApiKeyPrincipal(tenant=tenant), token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ClientApiKeyAuthentication(authentication.BaseAuthentication):
    """X-Api-Key + X-Client-Code, for endpoints served on any host."""

    def authenticate(self, request):
        raw_key = request.headers.get("X-Api-Key")
        client_code = request.headers.get("X-Client-Code")
        if not raw_key and not client_code:
            return None
        if not raw_key or not client_code:
            raise exceptions.AuthenticationFailed("Both X-Api-Key and X-Client-Code headers are required.")
        tenant = api_key_authenticate(raw_key=raw_key, client_code=client_code)
        if tenant is None:
            raise exceptions.AuthenticationFailed("Invalid API key or client code.")
        return ApiKeyPrincipal(tenant=tenant), raw_key

    def authenticate_header(self, request):
        return "X-Api-Key"


class TenantJWTAuthentication(JWTAuthentication):
    """simplejwt, plus a check that the token was issued in this request's schema.

    User ids are per schema, so without this a token from tenant A would log in
    as whichever user of tenant B happens to share the id.
    """

    def authenticate(self, request):
        token = _bearer_token(request)
        if token is not None and token.startswith(f"{API_KEY_PREFIX}_"):
            return None
        return super().authenticate(request)

    def get_validated_token(self, raw_token):
        validated = super().get_validated_token(raw_token)
        if validated.get(SCHEMA_CLAIM) != connection.schema_name:
            raise exceptions.AuthenticationFailed("Token was not issued for this tenant.")
        return validated
