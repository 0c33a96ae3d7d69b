"""Writes on the platform (public schema): onboarding, phone numbers, API keys."""

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.postgresql_backend.base import is_valid_schema_name
from django_tenants.utils import get_public_schema_name, schema_exists, tenant_context

from bizmitra.errors import ValidationFailed
from tenants.models import ApiKey, Domain, PhoneNumber, Tenant

OWNER_GROUP = "Owners"
AGENT_GROUP = "Agents"
API_KEY_PREFIX = "bzm"
RESERVED_SCHEMAS = {"public", "information_schema", "pg_catalog", "pg_toast"}


def hash_api_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedApiKey:
    """An API key just created: ``raw_key`` exists only here, never in the database."""

    api_key: ApiKey
    raw_key: str


def api_key_create(*, tenant: Tenant, name: str = "default") -> IssuedApiKey:
    """Issue a key for ``tenant``; raises ValidationFailed for the platform (public) tenant.

    The public schema holds no business data: a key for it would authenticate client sites
    into the platform's own schema, where no workflow, contact or template exists.
    """
    if tenant.schema_name == get_public_schema_name():
        raise ValidationFailed(
            "API keys belong to a business tenant, not to the platform.",
            fields={"tenant": ["The platform (public schema) cannot have API keys; choose a business tenant."]},
        )
    prefix = secrets.token_hex(4)
    raw_key = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(tenant=tenant, name=name, prefix=prefix, key_hash=hash_api_key(raw_key))
    return IssuedApiKey(api_key=api_key, raw_key=raw_key)


def api_key_authenticate(*, raw_key: str, client_code: str | None = None) -> Tenant | None:
    """The tenant a raw API key belongs to, or None for unknown/revoked keys or an inactive
    tenant; records when the key was last used (why this is a service, not a selector).

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


def api_keys_revoke(*, api_keys) -> int:
    """Revoke the keys of ``api_keys`` (a queryset) that are not revoked yet; how many were."""
    return api_keys.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


def _client_code_for(name: str) -> str:
    letters = re.sub(r"[^A-Z0-9]", "", name.upper())[:6] or "BIZ"
    code = letters
    while Tenant.objects.filter(client_code=code).exists():
        code = f"{letters[:4]}{secrets.randbelow(9000) + 1000}"
    return code


@dataclass(frozen=True)
class OnboardingResult:
    tenant: Tenant
    domain: Domain
    phone_number: PhoneNumber
    api_key: IssuedApiKey
    owner_email: str


def _validate_onboarding(*, name, schema_name, domain, phone_number_id, access_token, owner_email, owner_password):
    errors: dict[str, list[str]] = {}
    if not name.strip():
        errors["name"] = ["Name is required."]
    if not is_valid_schema_name(schema_name) or schema_name in RESERVED_SCHEMAS or schema_name.startswith("pg_"):
        errors["schema"] = [
            f"'{schema_name}' is not a valid schema name: use lowercase letters, digits and "
            "underscores, starting with a letter, at most 63 characters."
        ]
    elif not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", schema_name):
        errors["schema"] = [
            f"'{schema_name}' must be lowercase letters, digits and underscores, starting with a letter."
        ]
    elif Tenant.objects.filter(schema_name=schema_name).exists() or schema_exists(schema_name):
        errors["schema"] = [f"A tenant with schema '{schema_name}' already exists."]
    if not domain.strip():
        errors["domain"] = ["Domain is required."]
    elif Domain.objects.filter(domain=domain).exists():
        errors["domain"] = [f"The domain '{domain}' is already used by another tenant."]
    if not re.fullmatch(r"[0-9]{1,64}", phone_number_id or ""):
        errors["phone_number_id"] = ["The phone number id must be Meta's numeric phone_number_id."]
    elif PhoneNumber.objects.filter(phone_number_id=phone_number_id).exists():
        errors["phone_number_id"] = [f"The phone number id {phone_number_id} is already registered to a tenant."]
    if not access_token:
        errors["access_token"] = ["An access token is required."]
    try:
        validate_email(owner_email)
    except DjangoValidationError:
        errors["owner_email"] = [f"'{owner_email}' is not a valid email address."]
    if len(owner_password or "") < 8:
        errors["owner_password"] = ["The owner password must have at least 8 characters."]
    if errors:
        raise ValidationFailed("Onboarding input is invalid.", fields=errors)


def tenant_onboard(
    *,
    name: str,
    schema_name: str,
    domain: str,
    phone_number_id: str,
    access_token: str,
    owner_email: str,
    owner_password: str,
    app_secret: str = "",
    display_phone_number: str = "",
    waba_id: str = "",
    client_code: str = "",
    timezone_name: str = "UTC",
) -> OnboardingResult:
    """Create a tenant with its schema, domain, owner, phone number and first API key.

    All or nothing: input is validated up front, and the rows and the schema are
    created in one transaction (PostgreSQL DDL is transactional), so a failure
    leaves no half-created tenant behind.
    """
    # Tenants, domains and numbers live in the public schema, wherever the caller was.
    connection.set_schema_to_public()
    domain = domain.strip().lower()
    _validate_onboarding(
        name=name,
        schema_name=schema_name,
        domain=domain,
        phone_number_id=phone_number_id,
        access_token=access_token,
        owner_email=owner_email,
        owner_password=owner_password,
    )
    if client_code and Tenant.objects.filter(client_code=client_code.upper()).exists():
        raise ValidationFailed("Onboarding input is invalid.", fields={"client_code": ["This client code is taken."]})

    with transaction.atomic():
        tenant = Tenant(
            schema_name=schema_name,
            name=name.strip(),
            client_code=(client_code or _client_code_for(name)).upper(),
            timezone=timezone_name,
            callback_signing_secret=secrets.token_urlsafe(32),
        )
        tenant.save(verbosity=0)
        domain_row = Domain.objects.create(domain=domain, tenant=tenant, is_primary=True)
        phone = PhoneNumber.objects.create(
            tenant=tenant,
            phone_number_id=phone_number_id,
            display_phone_number=display_phone_number,
            waba_id=waba_id,
            access_token=access_token,
            app_secret=app_secret,
        )
        issued = api_key_create(tenant=tenant, name="default")
        with tenant_context(tenant):
            owner_create(email=owner_email, password=owner_password, is_owner=True)
    return OnboardingResult(
        tenant=tenant, domain=domain_row, phone_number=phone, api_key=issued, owner_email=owner_email
    )


def owner_create(*, email: str, password: str, is_owner: bool = True):
    """Create a dashboard user in the current tenant schema (call inside tenant_context)."""
    user_model = get_user_model()
    user = user_model.objects.create_user(username=email, email=email, password=password, is_staff=True)
    group, _ = Group.objects.get_or_create(name=OWNER_GROUP if is_owner else AGENT_GROUP)
    user.groups.add(group)
    if is_owner:
        # Owners manage their own tenant's admin (templates, flows, workflows).
        user.is_superuser = True
        user.save(update_fields=["is_superuser"])
    return user


def public_tenant_ensure(*, domain: str = "localhost") -> Tenant:
    """The public tenant django-tenants needs for the platform host (idempotent)."""
    tenant, _ = Tenant.objects.get_or_create(
        schema_name="public", defaults={"name": "BizMitra platform", "client_code": "PUBLIC"}
    )
    Domain.objects.get_or_create(domain=domain, defaults={"tenant": tenant, "is_primary": True})
    return tenant


TENANT_NAME_MAX = 200


@transaction.atomic
def tenant_profile_update(*, tenant: Tenant, name: str, timezone_name: str) -> Tenant:
    """Rename a business and set its time zone (an IANA name such as Asia/Kolkata).

    Locks the tenant's row (public schema) while writing; raises ``ValidationFailed`` naming
    the field for an empty or too long name or an unknown zone. Callable from any schema.
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = (name or "").strip()
    timezone_name = (timezone_name or "").strip()
    fields: dict[str, list[str]] = {}
    if not name:
        fields["name"] = ["Give the business a name."]
    elif len(name) > TENANT_NAME_MAX:
        fields["name"] = [f"At most {TENANT_NAME_MAX} characters."]
    try:
        ZoneInfo(timezone_name or "")
    except (ZoneInfoNotFoundError, ValueError):
        fields["timezone"] = [f"'{timezone_name}' is not a time zone name such as Asia/Kolkata."]
    if fields:
        raise ValidationFailed("Invalid business profile.", fields=fields)
    row = Tenant.objects.select_for_update().get(pk=tenant.pk)
    row.name, row.timezone = name, timezone_name
    row.save(update_fields=["name", "timezone"])
    tenant.name, tenant.timezone = name, timezone_name
    return row


# -- settings pages (issue 11 §4): API keys, callback secret, WhatsApp numbers -----------------
# Owners only; the check is here so every entry point refuses the same things.

API_KEY_NAME_MAX = 100


def _owner_required(by) -> None:
    from django.core.exceptions import PermissionDenied

    from tenants.permissions import user_is_owner

    if not user_is_owner(by):
        raise PermissionDenied("Only owners can change these settings.")


def api_key_issue(*, tenant: Tenant, name: str, by) -> IssuedApiKey:
    """An owner creates a named key (``api_key_create``); the raw key is returned once."""
    _owner_required(by)
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(
            "Invalid API key.", fields={"name": ["Name the key after the site or app that uses it."]}
        )
    if len(name) > API_KEY_NAME_MAX:
        raise ValidationFailed("Invalid API key.", fields={"name": [f"At most {API_KEY_NAME_MAX} characters."]})
    return api_key_create(tenant=tenant, name=name)


def api_key_revoke(*, tenant: Tenant, api_key_id: int, by) -> ApiKey:
    """Revoke one of ``tenant``'s keys; ``Conflict`` when someone revoked it already."""
    from bizmitra.errors import Conflict, NotFound

    _owner_required(by)
    api_key = ApiKey.objects.filter(tenant=tenant, pk=api_key_id).first()
    if api_key is None:
        raise NotFound("This API key does not exist.")
    if api_keys_revoke(api_keys=ApiKey.objects.filter(pk=api_key.pk)) == 0:
        raise Conflict(f"The key “{api_key.name}” was already revoked (by someone else, or in another tab).")
    api_key.refresh_from_db(fields=["revoked_at"])
    return api_key


def secret_fingerprint(secret: str) -> str:
    """A short, non-reversible label of a secret: tells versions apart without showing it."""
    return hashlib.sha256((secret or "").encode()).hexdigest()[:12]


@transaction.atomic
def tenant_callback_secret_rotate(*, tenant: Tenant, expected_fingerprint: str, by) -> str:
    """Replace the secret that signs workflow callbacks (``workflows.services.callbacks``
    reads it at each delivery, so the next callback is signed with the new one); returns it.

    ``expected_fingerprint`` is the ``secret_fingerprint`` the owner saw: if another owner
    rotated in between, ``Conflict`` (never a silent second rotation). Locks the tenant row.
    """
    from bizmitra.errors import Conflict

    _owner_required(by)
    row = Tenant.objects.select_for_update().get(pk=tenant.pk)
    if secret_fingerprint(str(row.callback_signing_secret or "")) != expected_fingerprint:
        raise Conflict("The signing secret was changed by someone else meanwhile. Reload to see the current state.")
    row.callback_signing_secret = secrets.token_urlsafe(32)
    row.callback_secret_rotated_at = timezone.now()
    row.save(update_fields=["callback_signing_secret", "callback_secret_rotated_at"])
    tenant.callback_signing_secret = row.callback_signing_secret
    tenant.callback_secret_rotated_at = row.callback_secret_rotated_at
    return str(row.callback_signing_secret)


@dataclass(frozen=True)
class NumberCheck:
    """What Meta answered for a number being connected."""

    display_phone_number: str
    verified_name: str
    quality_rating: str
    status: str = ""


# What the numbers page shows of each number (WA/phone-numbers: status CONNECTED, PENDING,
# FLAGGED, RESTRICTED…; quality_rating GREEN, YELLOW, RED, UNKNOWN).
NUMBER_FIELDS = ("display_phone_number", "verified_name", "quality_rating", "status")


def phone_number_verify(*, phone_number_id: str, access_token: str) -> NumberCheck:
    """Ask Graph (``GET /{phone_number_id}``) whether ``access_token`` can use this number.

    Meta's refusal becomes ``ValidationFailed`` naming the field it is about, with Meta's own
    code and message (190: the token; 100: the number); a network failure names no field.
    """
    from django.conf import settings

    from bizmitra.graph_api.client import GraphApiError, GraphClient, GraphError

    client = GraphClient(
        base_url=settings.WHATSAPP_GRAPH_URL,
        api_version=settings.WHATSAPP_API_VERSION,
        access_token=access_token,
        timeout=settings.WHATSAPP_GRAPH_TIMEOUT_SECONDS,
    )
    try:
        data = client.get_phone_number(phone_number_id, fields=NUMBER_FIELDS)
    except GraphApiError as exc:
        said = f"Meta refused it (error {exc.code}): {exc.details or exc.message or exc.title}"
        field = "access_token" if exc.is_auth_error else "phone_number_id"
        raise ValidationFailed("Meta did not accept these credentials.", fields={field: [said]}) from exc
    except GraphError as exc:
        raise ValidationFailed(f"Could not reach Meta to check the number: {exc}. Nothing was saved.") from exc
    return NumberCheck(
        display_phone_number=str(data.get("display_phone_number") or ""),
        verified_name=str(data.get("verified_name") or ""),
        quality_rating=str(data.get("quality_rating") or "")[:16],
        status=str(data.get("status") or "")[:32],
    )


def phone_number_connect(
    *, tenant: Tenant, by, phone_number_id: str, waba_id: str, access_token: str, app_secret: str = ""
) -> tuple[PhoneNumber, NumberCheck]:
    """Connect a WhatsApp number to ``tenant`` after Graph accepted its credentials live.

    Nothing is saved when a field is invalid or Meta refuses (``ValidationFailed`` with
    Meta's reason on the field). The token and app secret are stored encrypted.
    """
    from django.db import IntegrityError

    _owner_required(by)
    phone_number_id, waba_id = (phone_number_id or "").strip(), (waba_id or "").strip()
    access_token, app_secret = (access_token or "").strip(), (app_secret or "").strip()
    errors: dict[str, list[str]] = {}
    if not re.fullmatch(r"[0-9]{5,64}", phone_number_id):
        errors["phone_number_id"] = ["Meta's phone number id: digits only (WhatsApp Manager → API setup)."]
    elif PhoneNumber.objects.filter(phone_number_id=phone_number_id).exists():
        errors["phone_number_id"] = ["This number is already connected (here or to another business)."]
    if not re.fullmatch(r"[0-9]{5,64}", waba_id):
        errors["waba_id"] = ["The WhatsApp Business Account id: digits only."]
    if not access_token:
        errors["access_token"] = ["Paste the permanent (system user) access token."]
    elif len(access_token) > 2048 or any(c.isspace() for c in access_token):
        errors["access_token"] = ["This does not look like an access token (no spaces, at most 2048 characters)."]
    if app_secret and not re.fullmatch(r"[0-9a-fA-F]{16,128}", app_secret):
        errors["app_secret"] = ["The app secret is a hexadecimal string (App settings → Basic)."]
    if errors:
        raise ValidationFailed("Check the highlighted fields.", fields=errors)
    check = phone_number_verify(phone_number_id=phone_number_id, access_token=access_token)
    try:
        with transaction.atomic():
            number = PhoneNumber.objects.create(
                tenant=tenant,
                phone_number_id=phone_number_id,
                display_phone_number=check.display_phone_number,
                waba_id=waba_id,
                access_token=access_token,
                app_secret=app_secret,
                meta_status=check.status,
                quality_rating=check.quality_rating,
                checked_at=timezone.now(),
            )
    except IntegrityError:
        raise ValidationFailed(
            "Check the highlighted fields.",
            fields={"phone_number_id": ["Someone connected this number meanwhile."]},
        ) from None
    return number, check


def phone_number_refresh(*, tenant: Tenant, by, number_id: int) -> tuple[PhoneNumber, NumberCheck]:
    """Ask Graph again what it says of one of ``tenant``'s numbers (with its stored token) and
    keep its status, quality rating and display number. Meta's refusal (an expired token, a
    number moved to another WABA) is ``ValidationFailed`` with Meta's reason; nothing changes."""
    from bizmitra.errors import NotFound

    _owner_required(by)
    number = PhoneNumber.objects.filter(tenant=tenant, pk=number_id).first()
    if number is None:
        raise NotFound("This number is not connected to your business.")
    check = phone_number_verify(phone_number_id=number.phone_number_id, access_token=str(number.access_token))
    number.meta_status, number.quality_rating, number.checked_at = check.status, check.quality_rating, timezone.now()
    fields = ["meta_status", "quality_rating", "checked_at"]
    if check.display_phone_number:
        number.display_phone_number = check.display_phone_number
        fields.append("display_phone_number")
    number.save(update_fields=fields)
    return number, check


def graph_sandbox_url() -> str | None:
    """The Graph sandbox's base URL when ``WHATSAPP_GRAPH_URL`` is one (it answers
    ``/_sandbox/health``), else None."""
    import httpx
    from django.conf import settings

    base = settings.WHATSAPP_GRAPH_URL.rstrip("/")
    try:
        answer = httpx.get(f"{base}/_sandbox/health", timeout=1.5)
        return base if answer.status_code == 200 and answer.json().get("ok") else None
    except (httpx.HTTPError, ValueError):
        return None


def phone_number_connect_sandbox(*, tenant: Tenant, by) -> tuple[PhoneNumber, NumberCheck]:
    """Connect a test number of the Graph sandbox (only when the Graph API in use is one):
    registered there with a fresh token, then connected like a real number."""
    import httpx

    _owner_required(by)
    base = graph_sandbox_url()
    if base is None:
        raise ValidationFailed("The Graph sandbox is not running here: connect a real number instead.")
    phone_number_id = f"1065{secrets.randbelow(10**11):011d}"
    waba_id = f"1022{secrets.randbelow(10**11):011d}"
    token = f"sandbox-{secrets.token_urlsafe(24)}"
    display = f"1555{secrets.randbelow(10**7):07d}"
    body = {"phone_number_id": phone_number_id, "token": token, "waba_id": waba_id, "display_phone_number": display}
    try:
        httpx.post(f"{base}/_sandbox/numbers", json=body, timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        raise ValidationFailed(f"The Graph sandbox refused the test number: {exc}") from exc
    return phone_number_connect(
        tenant=tenant, by=by, phone_number_id=phone_number_id, waba_id=waba_id, access_token=token
    )
