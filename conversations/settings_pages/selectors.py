"""Reads of the settings pages (call inside the tenant's schema). Owners only: every reader
raises ``PermissionDenied`` for anyone else, so pages and fragments refuse the same things.

Each editable form carries a ``version``: a fingerprint of what the form shows, taken when
it was opened. The matching service refuses a save whose version is no longer current
(``settings_pages.services``), so two owners editing at once never lose a write silently.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from zoneinfo import available_timezones

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection

from conversations.ai import budgets
from conversations.ai.selectors import ai_endpoint_configured, ai_settings_get, knowledge_job_get
from conversations.ai.services import system_prompt_build
from conversations.engine.bots import bot_default_get
from conversations.models import (
    KNOWLEDGE_MAX_CHARS,
    Bot,
    BotAuditLog,
    BotPhoneNumber,
    BotSchedule,
    KnowledgeFetchJob,
    WorkingHours,
)
from conversations.selectors import user_is_owner
from tenants.models import PhoneNumber, Tenant

WEEKDAYS = [(value, label) for value, label in WorkingHours.Weekday.choices]


def owner_check(user) -> None:
    if not user_is_owner(user):
        raise PermissionDenied("Only owners can change settings.")


def fingerprint(*parts) -> str:
    """A short version token of the values a form shows (stable across processes)."""
    raw = json.dumps(parts, default=str, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:20]


def timezone_choices() -> list[str]:
    return sorted(available_timezones())


def hours_text(rows) -> str:
    """A day's intervals as the form shows them: ``09:00–13:00, 14:00–18:00``; empty: closed."""
    return ", ".join(f"{row.opens_at:%H:%M}–{row.closes_at:%H:%M}" for row in rows)


@dataclass
class BusinessProfile:
    """What the business profile page shows: the tenant's name and time zone, and the default
    bot's weekly hours and away message."""

    name: str
    timezone: str
    away_message: str
    hours_enabled: bool
    hours: dict[int, str] = field(default_factory=dict)
    version: str = ""
    bot_id: int | None = None

    @property
    def days(self) -> list[tuple[int, str, str]]:
        return [(value, label, self.hours.get(value, "")) for value, label in WEEKDAYS]


def tenant_row() -> Tenant:
    """The current tenant's row, read fresh (not the request's cached copy)."""
    return Tenant.objects.get(schema_name=connection.schema_name)


def business_profile_get(*, user, bot: Bot | None = None) -> BusinessProfile:
    """The profile page's values and their version. ``bot``: the default bot when given
    (e.g. locked by the caller), else read."""
    owner_check(user)
    bot = bot or bot_default_get()
    tenant = tenant_row()
    rows = list(WorkingHours.objects.filter(bot=bot).order_by("weekday", "opens_at"))
    hours = {value: hours_text([r for r in rows if r.weekday == value]) for value, _ in WEEKDAYS}
    profile = BusinessProfile(
        name=tenant.name,
        timezone=tenant.timezone or "UTC",
        away_message=bot.away_message,
        hours_enabled=bot.working_hours_enabled,
        hours=hours,
        bot_id=bot.pk,
    )
    profile.version = fingerprint(
        profile.name, profile.timezone, profile.away_message, profile.hours_enabled, sorted(hours.items())
    )
    return profile


def secret_mask(secret: str) -> str:
    """A stored key as the page shows it: ``sk-…a1b2`` (never the whole key)."""
    secret = str(secret or "")
    if not secret:
        return ""
    if len(secret) < 12:
        return "…" + secret[-2:]
    return f"{secret[:3]}…{secret[-4:]}"


@dataclass
class AIPage:
    """The AI settings form: the saved values (the key only masked) and their version."""

    enabled: bool
    model: str
    base_url: str
    key_mask: str
    system_prompt: str
    daily_token_budget: str
    per_contact_hourly_cap: str
    version: str
    endpoint_configured: bool = True
    default_model: str = ""
    default_base_url: str = ""
    tokens_today: int = 0


def ai_settings_version(config) -> str:
    return fingerprint(config.updated_at.isoformat() if config.updated_at else "never saved")


def ai_page_get(*, user) -> AIPage:
    owner_check(user)
    config = ai_settings_get()
    return AIPage(
        enabled=config.enabled,
        model=config.model,
        base_url=config.base_url,
        key_mask=secret_mask(config.api_key),
        system_prompt=config.system_prompt,
        daily_token_budget=str(config.daily_token_budget),
        per_contact_hourly_cap=str(config.per_contact_hourly_cap),
        version=ai_settings_version(config),
        endpoint_configured=ai_endpoint_configured(config=config),
        default_model=settings.OPENAI_MODEL,
        default_base_url=settings.OPENAI_BASE_URL,
        tokens_today=budgets.tokens_used_today(schema_name=connection.schema_name),
    )


@dataclass
class KnowledgePage:
    url: str
    fetched_at: object
    knowledge_chars: int
    preview: str
    job: object = None


def knowledge_page_get(*, user) -> KnowledgePage:
    """The website knowledge page: source URL, last fetch, the latest job, and the system
    message the AI is given (what it will be told)."""
    owner_check(user)
    config = ai_settings_get()
    return KnowledgePage(
        url=config.knowledge_source_url,
        fetched_at=config.knowledge_fetched_at,
        knowledge_chars=min(len(config.knowledge), KNOWLEDGE_MAX_CHARS),
        preview=system_prompt_build(config=config),
        job=KnowledgeFetchJob.objects.order_by("-created_at").first(),
    )


def knowledge_job_for(*, user, job_id):
    owner_check(user)
    return knowledge_job_get(job_id=job_id)


def bots_list(*, user) -> list[Bot]:
    """Every bot with the numbers it serves (one query each for bots and links)."""
    owner_check(user)
    return list(Bot.objects.prefetch_related("phone_numbers").order_by("-is_default", "name", "id"))


def bot_get(*, user, bot_id: int) -> Bot | None:
    owner_check(user)
    return Bot.objects.prefetch_related("phone_numbers").filter(pk=bot_id).first()


def bot_version(bot: Bot) -> str:
    return fingerprint(bot.updated_at.isoformat() if bot.updated_at else "")


def tenant_numbers() -> list:
    """The business's WhatsApp numbers (public registry), for "which numbers this bot serves"."""
    return list(PhoneNumber.objects.filter(tenant__schema_name=connection.schema_name).order_by("phone_number_id"))


def bot_detail_get(*, user, bot: Bot) -> dict:
    """What a bot's settings page shows besides the bot: numbers (with who serves each),
    schedules and the audit trail."""
    owner_check(user)
    served_by = dict(BotPhoneNumber.objects.values_list("phone_number_id", "bot__name"))
    mine = {link.phone_number_id for link in bot.phone_numbers.all()}
    numbers = [
        {
            "id": n.phone_number_id,
            "display": n.display_phone_number or n.phone_number_id,
            "mine": n.phone_number_id in mine,
            "other": served_by.get(n.phone_number_id) if n.phone_number_id not in mine else None,
        }
        for n in tenant_numbers()
    ]
    return {
        "numbers": numbers,
        "schedules": list(BotSchedule.objects.filter(bot=bot).select_related("created_by")[:20]),
        "audit": list(BotAuditLog.objects.filter(bot=bot)[:30]),
        "version": bot_version(bot),
    }
