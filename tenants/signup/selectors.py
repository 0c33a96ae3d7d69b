"""Reads of sign-up: the first-run checklist of a tenant, the tenants a Google account may enter."""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection
from django_tenants.utils import get_public_schema_name, schema_context

from tenants.models import GoogleSignInEmail, OwnerSignup, PhoneNumber, Tenant


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    title: str
    text: str
    href: str
    action: str
    done: bool


def _rows_exist(app_label: str, model_name: str, **filters) -> bool:
    # tenants is the lowest app and imports none above it (docs/ARCHITECTURE.md); the checklist
    # only asks whether a tenant app has any row yet, by the app registry, never by import.
    try:
        model = apps.get_model(app_label, model_name)
    except LookupError:
        return False
    return model.objects.filter(**filters).exists()


def owner_signup_for(tenant: Tenant) -> OwnerSignup | None:
    with schema_context(get_public_schema_name()):
        return OwnerSignup.objects.filter(tenant=tenant).first()


def signup_checklist(*, tenant: Tenant) -> list[ChecklistItem]:
    """The first-run checklist of ``tenant``, each item done or not. Call inside its schema."""
    assert connection.schema_name == tenant.schema_name, "call inside the tenant's schema"
    with schema_context(get_public_schema_name()):
        has_number = PhoneNumber.objects.filter(tenant=tenant, is_active=True).exists()
    signup = owner_signup_for(tenant)
    users = get_user_model().objects.filter(is_active=True).count()
    return [
        ChecklistItem(
            "email",
            "Confirm your email",
            "We sent you a link. Confirming keeps your account recoverable.",
            "#verify",
            "Resend the link",
            bool(signup is None or signup.email_verified_at),
        ),
        ChecklistItem(
            "whatsapp",
            "Connect WhatsApp",
            "Connect your WhatsApp Business number, or use the sandbox to try everything first.",
            "/settings/numbers/",
            "Connect a number",
            has_number,
        ),
        ChecklistItem(
            "flow",
            "Build a menu flow",
            "Answer common questions with buttons and lists, at no AI cost.",
            "/admin/message_templates/flowrule/",
            "Open the flow builder",
            # The built-in intents are seeded into every new tenant: a rule of one's own counts.
            _rows_exist("message_templates", "FlowRule", builtin_intent=""),
        ),
        ChecklistItem(
            "simulator",
            "Try the simulator",
            "Chat with your bot as a customer would, right in the browser.",
            "/simulator/",
            "Open the simulator",
            _rows_exist("conversations", "Conversation"),
        ),
        ChecklistItem(
            "team",
            "Invite a teammate",
            "Give your staff their own sign-in to answer chats in the inbox.",
            "/settings/team/",
            "Invite someone",
            users > 1,
        ),
    ]


def google_tenants_for_email(email: str) -> list[Tenant]:
    """The active tenants whose Google allow-list holds ``email``."""
    with schema_context(get_public_schema_name()):
        return list(
            Tenant.objects.filter(is_active=True, google_sign_in_emails__email=email.strip().lower()).order_by("name")
        )


def google_allow_list(*, tenant: Tenant) -> list[str]:
    with schema_context(get_public_schema_name()):
        return list(GoogleSignInEmail.objects.filter(tenant=tenant).values_list("email", flat=True))
