from django.db import models
from django_tenants.models import DomainMixin, TenantMixin

from bizmitra.crypto import EncryptedTextField


class Tenant(TenantMixin):
    """A business using BizMitra; owns one PostgreSQL schema with all its data."""

    name = models.CharField(max_length=200)
    # Short public identifier a client website sends as X-Client-Code.
    client_code = models.CharField(max_length=16, unique=True)
    timezone = models.CharField(max_length=64, default="UTC")
    # Signs workflow callback PUTs to the client's site (X-BizMitra-Signature).
    callback_signing_secret = EncryptedTextField(blank=True, default="")
    # When an owner last rotated it (None: made at onboarding or first use, never rotated).
    callback_secret_rotated_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    auto_create_schema = True
    auto_drop_schema = False

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.client_code})"


class Domain(DomainMixin):
    """A host name that routes HTTP and websocket requests to its tenant's schema."""


class PhoneNumber(models.Model):
    """Registry of WhatsApp business numbers, in the public schema.

    Routes an inbound webhook to its tenant by ``metadata.phone_number_id``
    without scanning schemas; holds the credentials used to send from it.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="phone_numbers")
    phone_number_id = models.CharField(max_length=64, unique=True)
    display_phone_number = models.CharField(max_length=32, blank=True, default="")
    waba_id = models.CharField("WhatsApp Business Account id", max_length=64, blank=True, default="")
    access_token = EncryptedTextField()
    # Only when this number belongs to a Meta app other than the platform's own.
    app_secret = EncryptedTextField(blank=True, default="")
    # Meta's default per-number throughput (messages/s); 1,000 after an upgrade, 20 in coexistence.
    messages_per_second = models.PositiveIntegerField(default=80)
    # What Graph said at the last check (connect or "Check with Meta"): ``status`` such as
    # CONNECTED, PENDING, FLAGGED, RESTRICTED; ``quality_rating`` GREEN, YELLOW, RED or UNKNOWN.
    # Blank: never asked, or Meta did not say.
    meta_status = models.CharField(max_length=32, blank=True, default="")
    quality_rating = models.CharField(max_length=16, blank=True, default="")
    checked_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["phone_number_id"]

    def __str__(self) -> str:
        return self.display_phone_number or self.phone_number_id


class ApiKey(models.Model):
    """A server-to-server credential of a tenant; only its SHA-256 hash is stored.

    The full key (``bzm_<prefix>_<secret>``) is shown once at creation. Keys are
    random 256-bit values, so a fast hash is enough: there is nothing to brute-force.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} (bzm_{self.prefix}_…)"


class OwnerSignup(models.Model):
    """A business that signed itself up at /signup: its owner's email and whether it is verified.

    Public schema, so the email is unique across the platform (users live in each tenant's
    own schema, where no other tenant's owner can be seen).
    """

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="owner_signup")
    email = models.EmailField(unique=True)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} → {self.tenant.schema_name}"


class GoogleSignInEmail(models.Model):
    """An email allowed to sign in to ``tenant`` with Google (the tenant's allow-list)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="google_sign_in_emails")
    email = models.EmailField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["email"]
        constraints = [models.UniqueConstraint(fields=["tenant", "email"], name="google_sign_in_email_unique")]

    def __str__(self) -> str:
        return self.email
