"""Reads on the platform (public schema)."""

import hmac
import logging
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import connection
from django.utils import timezone

from tenants.models import ApiKey, PhoneNumber, Tenant
from tenants.services import API_KEY_PREFIX, hash_api_key


def api_key_authenticate(*, raw_key: str, client_code: str | None = None) -> Tenant | None:
    """The tenant a raw API key belongs to, or None for unknown/revoked keys.

    With ``client_code`` the key must also belong to that tenant.
    """
    parts = (raw_key or "").split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return None
    api_key = ApiKey.objects.select_related("tenant").filter(prefix=parts[1], revoked_at__isnull=True).first()
    if api_key is None or not hmac.compare_digest(api_key.key_hash, hash_api_key(raw_key)):
        return None
    if not api_key.tenant.is_active:
        return None
    if client_code is not None and api_key.tenant.client_code != client_code.strip().upper():
        return None
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now())
    return api_key.tenant


def phone_number_get(*, phone_number_id: str) -> PhoneNumber | None:
    return PhoneNumber.objects.select_related("tenant").filter(phone_number_id=phone_number_id).first()


logger = logging.getLogger(__name__)


def tenant_timezone_name(*, tenant: Tenant | None = None, schema_name: str | None = None) -> str:
    """The IANA name of a tenant's time zone (``Tenant.timezone``), "UTC" when unset or not a
    zone. ``tenant``, else the tenant of ``schema_name``, else of the current schema; no query
    when the connection's tenant (set by the middleware or tenant-schemas-celery) is that one."""
    if tenant is None:
        schema_name = schema_name or connection.schema_name
        current = getattr(connection, "tenant", None)
        if current is not None and getattr(current, "schema_name", None) == schema_name:
            tenant = current
    if tenant is not None:
        name = getattr(tenant, "timezone", "") or ""
    else:
        name = Tenant.objects.filter(schema_name=schema_name).values_list("timezone", flat=True).first() or ""
    try:
        ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown time zone %r of tenant %s", name, schema_name or getattr(tenant, "schema_name", ""))
        return "UTC"
    return name or "UTC"


def tenant_timezone(*, tenant: Tenant | None = None, schema_name: str | None = None) -> ZoneInfo:
    """The tenant's time zone (see ``tenant_timezone_name``); UTC when unset or unknown."""
    return ZoneInfo(tenant_timezone_name(tenant=tenant, schema_name=schema_name))


def tenant_get_by_client_code(*, client_code: str) -> Tenant | None:
    return Tenant.objects.filter(client_code=client_code.strip().upper()).first()
