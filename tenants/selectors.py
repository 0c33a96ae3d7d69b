"""Reads on the platform (public schema)."""

import logging
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import connection

from tenants.models import PhoneNumber, Tenant


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
        # schema_context() sets a stand-in without the tenant's fields: read the row then.
        same = current is not None and getattr(current, "schema_name", None) == schema_name
        if same and hasattr(current, "timezone"):
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


def api_key_list(*, tenant: Tenant, user) -> list:
    """The tenant's API keys, newest first, active ones before revoked (owners only)."""
    from django.core.exceptions import PermissionDenied

    from tenants.models import ApiKey
    from tenants.permissions import user_is_owner

    if not user_is_owner(user):
        raise PermissionDenied("Only owners can see API keys.")
    return list(ApiKey.objects.filter(tenant=tenant).order_by("revoked_at", "-created_at").defer("key_hash"))


def phone_number_list(*, tenant: Tenant, user) -> list[PhoneNumber]:
    """The tenant's connected WhatsApp numbers (owners only); secrets are never read out here."""
    from django.core.exceptions import PermissionDenied

    from tenants.permissions import user_is_owner

    if not user_is_owner(user):
        raise PermissionDenied("Only owners can see the WhatsApp numbers.")
    return list(PhoneNumber.objects.filter(tenant=tenant).order_by("created_at"))


def callback_secret_state(*, tenant: Tenant) -> dict:
    """Whether ``tenant`` has a callback signing secret, when it was last rotated and a masked
    form (its last 4 characters) with its fingerprint: never the secret itself, which is shown
    once, when it is rotated (``tenants.services.tenant_callback_secret_rotate``)."""
    from tenants.services import secret_fingerprint

    secret = str(tenant.callback_signing_secret or "")
    return {
        "is_set": bool(secret),
        "rotated_at": tenant.callback_secret_rotated_at,
        "masked": f"••••••••{secret[-4:]}" if secret else "",
        # Sent back to rotate, so two owners never rotate over each other unknowingly.
        "fingerprint": secret_fingerprint(secret),
    }
