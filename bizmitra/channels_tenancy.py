"""Tenant context for websockets.

django-tenants only routes HTTP requests (its middleware is Django middleware),
so Channels connections need their own: resolve the tenant from the Host
header, load the session user inside that tenant's schema, and give consumers
a way to run every database call in that schema.
"""

from functools import wraps
from importlib import import_module

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
from django.contrib.auth.models import AnonymousUser
from django.utils.crypto import constant_time_compare
from django_tenants.utils import get_tenant_domain_model, remove_www, tenant_context

# Close codes in the 4000–4999 range are ours (RFC 6455 §7.4.2).
CLOSE_UNKNOWN_TENANT = 4404
CLOSE_UNAUTHENTICATED = 4401


def _host_from_scope(scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"host":
            return remove_www(value.decode("latin-1").split(":")[0].lower())
    return ""


def _cookie(scope, cookie_name: str) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                if key == cookie_name:
                    return val
    return None


def _resolve_tenant_and_user(host: str, session_key: str | None):
    # django-tenants' own lookup of TENANT_DOMAIN_MODEL: the kernel imports no app.
    domain = get_tenant_domain_model().objects.select_related("tenant").filter(domain=host).first()
    if domain is None or domain.tenant.schema_name == "public":
        return None, AnonymousUser()
    tenant = domain.tenant
    with tenant_context(tenant):
        return tenant, _session_user(session_key)


def _session_user(session_key: str | None):
    """django.contrib.auth.get_user without a request, in the current schema."""
    if not session_key:
        return AnonymousUser()
    engine = import_module(settings.SESSION_ENGINE)
    session = engine.SessionStore(session_key)
    try:
        user_id = session[SESSION_KEY]
        backend_path = session[BACKEND_SESSION_KEY]
    except KeyError:
        return AnonymousUser()
    backend = load_backend(backend_path)
    user = backend.get_user(user_id)
    if user is None:
        return AnonymousUser()
    session_hash = session.get(HASH_SESSION_KEY)
    if not session_hash or not constant_time_compare(session_hash, user.get_session_auth_hash()):
        return AnonymousUser()
    return user


class TenantWebsocketMiddleware:
    """ASGI middleware: puts ``tenant`` and ``user`` in the scope, or closes.

    An unknown host is refused before the consumer runs, with close code 4404.
    """

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await self.inner(scope, receive, send)
        host = _host_from_scope(scope)
        session_key = _cookie(scope, settings.SESSION_COOKIE_NAME)
        tenant, user = await database_sync_to_async(_resolve_tenant_and_user)(host, session_key)
        if tenant is None:
            # Accept then close: a close before accept becomes a bare HTTP 403,
            # and the client would never see why.
            await receive()  # the websocket.connect message
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": CLOSE_UNKNOWN_TENANT, "reason": "unknown tenant host"})
            return None
        scope = dict(scope, tenant=tenant, user=user)
        return await self.inner(scope, receive, send)


def tenant_database_sync_to_async(func):
    """Like ``database_sync_to_async`` for a consumer method, inside ``self.scope['tenant']``.

    Sync-to-async threads are shared between connections of different tenants,
    so the schema is set on every call rather than once per connection.
    """

    @wraps(func)
    async def wrapper(self, *args, **kwargs):
        tenant = self.scope["tenant"]

        def run():
            with tenant_context(tenant):
                return func(self, *args, **kwargs)

        return await database_sync_to_async(run)()

    return wrapper
