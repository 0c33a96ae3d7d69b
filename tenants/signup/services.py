"""Writes of self-serve sign-up (issue 11 §5): a new tenant from a form, email verification,
the one-time sign-in hand-off from the platform host to the tenant's host, Google sign-in."""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import get_password_validators, validate_password
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.core.management import call_command
from django.core.validators import validate_email
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.clone import CloneSchema
from django_tenants.models import TenantMixin
from django_tenants.signals import post_schema_sync
from django_tenants.utils import get_public_schema_name, schema_context, schema_exists, tenant_context

from bizmitra.errors import ValidationFailed
from tenants.models import Domain, GoogleSignInEmail, OwnerSignup, Tenant
from tenants.services import RESERVED_SCHEMAS, _client_code_for, owner_create

logger = logging.getLogger(__name__)

# Names a business may not take as its address: hosts the platform uses or may use, and
# words that would let a tenant pass for the platform itself.
RESERVED_SLUGS = frozenset(
    "www admin administrator api app apps auth billing blog cdn dashboard demo dev docs help "
    "login logout mail media public root signin signup sso static status support system test "
    "webhooks ws bizmitra platform staging production sandbox graph".split()
)
SLUG_RE = re.compile(r"[a-z][a-z0-9-]{1,28}[a-z0-9]")
VERIFY_SALT = "bizmitra.signup.verify"
HANDOFF_SALT = "bizmitra.signup.handoff"
HANDOFF_MAX_AGE_SECONDS = 120
# Serialises the clone: django-tenants re-creates its clone_schema() SQL function each time,
# and two concurrent CREATE OR REPLACE FUNCTION fail with "tuple concurrently updated".
_CLONE_LOCK = 0x62_7A_6D_73  # "bzms"


def slug_from_name(name: str) -> str:
    """A suggested address for a business name ("Asha's Bakery" → "ashas-bakery")."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower().replace("'", "")).strip("-")
    slug = re.sub(r"^[^a-z]+", "", slug)[:30].rstrip("-")
    return slug


def tenant_domain_for(slug: str) -> str:
    return f"{slug}.{settings.TENANT_BASE_DOMAIN}"


def _schema_for(slug: str) -> str:
    return slug.replace("-", "_")


def _validate_signup(*, business_name: str, slug: str, email: str, password: str) -> None:
    errors: dict[str, list[str]] = {}
    if not business_name.strip():
        errors["business_name"] = ["Tell us your business's name."]
    elif len(business_name.strip()) > 200:
        errors["business_name"] = ["Keep the name under 200 characters."]
    if not SLUG_RE.fullmatch(slug) or "--" in slug:
        errors["slug"] = [
            "Use 3–30 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen."
        ]
    elif slug in RESERVED_SLUGS or _schema_for(slug) in RESERVED_SCHEMAS or _schema_for(slug) == _template():
        errors["slug"] = [f"“{slug}” is reserved. Please choose another address."]
    elif (
        Tenant.objects.filter(schema_name=_schema_for(slug)).exists()
        or Domain.objects.filter(domain=tenant_domain_for(slug)).exists()
        or schema_exists(_schema_for(slug))
    ):
        errors["slug"] = [f"“{slug}” is already taken. Try another address."]
    try:
        validate_email(email)
    except DjangoValidationError:
        errors["email"] = ["Enter a valid email address, like you@yourbusiness.com."]
    else:
        if OwnerSignup.objects.filter(email__iexact=email).exists():
            errors["email"] = ["An account with this email already exists. Sign in instead."]
    try:
        user = get_user_model()(username=email, email=email, first_name=business_name)
        validate_password(password, user=user, password_validators=get_password_validators(_validators()))
    except DjangoValidationError as exc:
        errors["password"] = list(exc.messages)
    if errors:
        raise ValidationFailed("Please fix the highlighted fields.", fields=errors)


def _validators() -> list[dict]:
    return settings.SIGNUP_PASSWORD_VALIDATORS


def _template() -> str:
    return settings.SIGNUP_TEMPLATE_SCHEMA


def _migrate(schema_name: str) -> None:
    call_command("migrate_schemas", tenant=True, schema_name=schema_name, interactive=False, verbosity=0)


_LEAF_MIGRATIONS: set[tuple[str, str]] | None = None


def _leaf_migrations() -> set[tuple[str, str]]:
    """The newest migration of every app, as on disk (the same for the process's life)."""
    global _LEAF_MIGRATIONS
    if _LEAF_MIGRATIONS is None:
        from django.db.migrations.loader import MigrationLoader

        _LEAF_MIGRATIONS = set(MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes())
    return _LEAF_MIGRATIONS


def _template_current() -> bool:
    # django-tenants records every app's migrations in a tenant schema (shared apps' ones as
    # no-ops), so the template is current when every leaf migration is recorded there.
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT app, name FROM "{_template()}".django_migrations')
        return _leaf_migrations() <= set(cursor.fetchall())


def signup_template_ensure() -> None:
    """Create the template schema if it is missing, and migrate it when it is behind the code.

    Call inside a transaction: holds a transaction-level advisory lock until it ends.
    """
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CLONE_LOCK])
        if not schema_exists(_template()):
            cursor.execute(f'CREATE SCHEMA "{_template()}"')
        elif _template_current():
            return
    _migrate(_template())
    connection.set_schema_to_public()


def tenant_schema_create(*, schema_name: str) -> None:
    """Create ``schema_name`` with every tenant table: a copy of the template schema.

    The template (``SIGNUP_TEMPLATE_SCHEMA``, no tenant of its own) is created on first use and
    migrated before a copy whenever it is behind the code, so a clone is never behind (a copy
    costs well under a second; running all migrations on a new schema, seconds: bench/signup.py).
    Copied with its rows (content types, permissions, data migrations).
    Call inside a transaction: holds a transaction-level advisory lock.
    """
    with transaction.atomic():
        signup_template_ensure()
        CloneSchema().clone_schema(_template(), schema_name, "DATA")
    connection.set_schema_to_public()


@dataclass(frozen=True)
class SignupResult:
    tenant: Tenant
    domain: Domain
    owner_signup: OwnerSignup
    owner_id: int


def tenant_signup(*, business_name: str, slug: str, email: str, password: str) -> SignupResult:
    """A new tenant from the sign-up form: schema, domain ``<slug>.<TENANT_BASE_DOMAIN>``, owner.

    All or nothing (one transaction; PostgreSQL DDL is transactional). Raises ValidationFailed
    with per-field reasons (taken or reserved address, taken email, weak password). Send the
    verification email after it returns (``signup_verification_send``).
    """
    connection.set_schema_to_public()
    business_name, slug, email = business_name.strip(), slug.strip().lower(), email.strip().lower()
    _validate_signup(business_name=business_name, slug=slug, email=email, password=password)
    with transaction.atomic():
        tenant = Tenant(
            schema_name=_schema_for(slug),
            name=business_name,
            client_code=_client_code_for(business_name),
            callback_signing_secret=secrets.token_urlsafe(32),
        )
        # The schema is cloned below, not migrated from scratch by TenantMixin.save.
        tenant.auto_create_schema = False
        tenant.save()
        tenant_schema_create(schema_name=tenant.schema_name)
        # What TenantMixin.save sends after its own schema creation (apps seed rows on it).
        post_schema_sync.send(sender=TenantMixin, tenant=tenant.serializable_fields())
        domain = Domain.objects.create(domain=tenant_domain_for(slug), tenant=tenant, is_primary=True)
        owner_signup = OwnerSignup.objects.create(tenant=tenant, email=email)
        # The owner may sign in with Google as soon as the platform has it configured.
        GoogleSignInEmail.objects.create(tenant=tenant, email=email)
        with tenant_context(tenant):
            owner = owner_create(email=email, password=password, is_owner=True)
        connection.set_schema_to_public()
    return SignupResult(tenant=tenant, domain=domain, owner_signup=owner_signup, owner_id=owner.pk)


def signup_verification_send(*, owner_signup: OwnerSignup, platform_url: str) -> bool:
    """Email the owner a signed, expiring link that verifies the address; False if it failed.

    Sent in the request, not a task: the person is waiting for it, and a failure is shown
    with a resend button (SMTP errors are reported, not raised).
    """
    token = signing.dumps({"id": owner_signup.pk, "email": owner_signup.email}, salt=VERIFY_SALT)
    link = f"{platform_url.rstrip('/')}/signup/verify/{token}/"
    hours = settings.SIGNUP_VERIFY_MAX_AGE_SECONDS // 3600
    body = (
        f"Welcome to BizMitra, {owner_signup.tenant.name}!\n\n"
        f"Confirm that {owner_signup.email} is your email address by opening this link:\n\n{link}\n\n"
        f"The link works for {hours} hours. If you did not sign up, ignore this email.\n"
    )
    try:
        send_mail("Confirm your email for BizMitra", body, None, [owner_signup.email])
    except Exception:  # smtplib's errors, a refused connection, a backend's own
        logger.exception("verification email to %s failed", owner_signup.email)
        return False
    return True


def signup_email_verify(*, token: str) -> OwnerSignup:
    """Mark the address of a verification link as verified (idempotent); ValidationFailed if the
    link is malformed, tampered with, expired, or for an email since changed."""
    try:
        data = signing.loads(token, salt=VERIFY_SALT, max_age=settings.SIGNUP_VERIFY_MAX_AGE_SECONDS)
    except signing.SignatureExpired:
        raise ValidationFailed(
            "This link has expired. Sign in and ask for a new one.", fields={"token": ["expired"]}
        ) from None
    except signing.BadSignature:
        raise ValidationFailed("This link is not valid.", fields={"token": ["invalid"]}) from None
    owner_signup = (
        OwnerSignup.objects.select_related("tenant").filter(pk=data.get("id"), email=data.get("email")).first()
    )
    if owner_signup is None:
        raise ValidationFailed("This link is not valid.", fields={"token": ["invalid"]})
    if owner_signup.email_verified_at is None:
        owner_signup.email_verified_at = timezone.now()
        owner_signup.save(update_fields=["email_verified_at"])
    return owner_signup


def handoff_token_issue(*, tenant: Tenant, user_id: int) -> str:
    """A short-lived, one-time token that signs ``user_id`` in on the tenant's own host.

    The platform host and a tenant host share no session cookie; this carries the sign-in
    across the redirect. Redeem with ``handoff_redeem`` on the tenant host.
    """
    return signing.dumps(
        {"s": tenant.schema_name, "u": user_id, "n": secrets.token_urlsafe(12)}, salt=HANDOFF_SALT, compress=True
    )


def handoff_redeem(*, token: str, schema_name: str) -> int | None:
    """The user id a hand-off token names, once: None if invalid, expired, for another tenant,
    or already used (the nonce is burnt in the cache, which is Redis)."""
    try:
        data = signing.loads(token, salt=HANDOFF_SALT, max_age=HANDOFF_MAX_AGE_SECONDS)
    except signing.BadSignature:
        return None
    if data.get("s") != schema_name:
        return None
    if not cache.add(f"signup:handoff:{data.get('n')}", 1, timeout=HANDOFF_MAX_AGE_SECONDS * 2):
        return None
    return data.get("u")


def google_email_allow(*, tenant: Tenant, email: str) -> GoogleSignInEmail:
    """Put ``email`` on the tenant's Google sign-in allow-list (idempotent)."""
    email = email.strip().lower()
    try:
        validate_email(email)
    except DjangoValidationError:
        raise ValidationFailed(
            "Enter a valid email address.", fields={"email": ["Enter a valid email address."]}
        ) from None
    with schema_context(get_public_schema_name()):
        row, _ = GoogleSignInEmail.objects.get_or_create(tenant=tenant, email=email)
    return row


def google_email_disallow(*, tenant: Tenant, email: str) -> int:
    with schema_context(get_public_schema_name()):
        deleted, _ = GoogleSignInEmail.objects.filter(tenant=tenant, email=email.strip().lower()).delete()
    return deleted


def google_user_ensure(*, tenant: Tenant, email: str) -> int:
    """The id of the tenant's user with ``email``, creating an agent for an allowed email that
    has none yet (a password nobody knows: they sign in with Google). Checks the allow-list."""
    email = email.strip().lower()
    with schema_context(get_public_schema_name()):
        allowed = GoogleSignInEmail.objects.filter(tenant=tenant, email=email).exists()
    if not allowed:
        raise ValidationFailed(f"{email} may not sign in to {tenant.name} with Google.")
    with tenant_context(tenant):
        user = get_user_model().objects.filter(email__iexact=email).first()
        if user is None:
            user = owner_create(email=email, password=secrets.token_urlsafe(32), is_owner=False)
        elif not user.is_active:
            raise ValidationFailed(f"The account {email} at {tenant.name} is deactivated.")
        return user.pk
