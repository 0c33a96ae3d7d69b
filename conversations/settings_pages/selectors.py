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
from datetime import time
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
from tenants.selectors import tenant_timezone_name

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


def _clock(value: time, *, end: bool = False) -> str:
    return "24:00" if end and value == time(0) else f"{value:%H:%M}"


def day_hours_texts(rows) -> dict[int, str]:
    """A bot's ``WorkingHours`` rows as the editor shows them, one text per weekday:
    ``09:00–13:00, 14:00–18:00``; empty: closed. The editor takes no range that closes before
    it opens, so a stored one past midnight (22:00–02:00, from the admin or the API) is shown
    split at midnight (``22:00–24:00`` that day, ``00:00–02:00`` the next), which the engine
    reads the same; a whole day is ``00:00–24:00``."""
    spans: dict[int, list[tuple[time, time]]] = {value: [] for value, _ in WEEKDAYS}
    for row in rows:
        opens, closes = row.opens_at, row.closes_at
        if closes != time(0) and closes <= opens:
            spans[row.weekday].append((opens, time(0)))
            spans[(row.weekday + 1) % 7].append((time(0), closes))
        else:
            spans[row.weekday].append((opens, closes))
    return {
        weekday: ", ".join(f"{_clock(o)}–{_clock(c, end=True)}" for o, c in sorted(day))
        for weekday, day in spans.items()
    }


@dataclass(kw_only=True)
class BotHours:
    """One bot's working hours editor (the bot's page and, for the default bot, the business
    profile): the switch, each weekday's ranges as text, the away message, and their version."""

    bot_id: int | None = None
    bot_name: str = ""
    is_default: bool = False
    zone: str = "UTC"
    away_message: str = ""
    hours_enabled: bool = False
    hours: dict[int, str] = field(default_factory=dict)
    version: str = ""

    @property
    def days(self) -> list[tuple[int, str, str]]:
        return [(value, label, self.hours.get(value, "")) for value, label in WEEKDAYS]


def bot_hours_get(*, user, bot: Bot) -> BotHours:
    """``bot``'s working hours as its editor shows them (read fresh: pass a locked row when
    checking a version before a write)."""
    owner_check(user)
    rows = WorkingHours.objects.filter(bot=bot).order_by("weekday", "opens_at")
    hours = BotHours(
        bot_id=bot.pk,
        bot_name=bot.name,
        is_default=bot.is_default,
        zone=bot.timezone or tenant_timezone_name(),
        away_message=bot.away_message,
        hours_enabled=bot.working_hours_enabled,
        hours=day_hours_texts(rows),
    )
    hours.version = fingerprint(hours.away_message, hours.hours_enabled, sorted(hours.hours.items()))
    return hours


@dataclass(kw_only=True)
class BusinessProfile:
    """What the business profile page shows: the tenant's name and time zone, and the default
    bot's working hours (``hours``), with the other bots, whose hours are on their own pages."""

    name: str
    timezone: str
    hours: BotHours
    other_bots: list[Bot] = field(default_factory=list)
    version: str = ""


def tenant_row() -> Tenant:
    """The current tenant's row, read fresh (not the request's cached copy)."""
    return Tenant.objects.get(schema_name=connection.schema_name)


def business_profile_get(*, user, bot: Bot | None = None) -> BusinessProfile:
    """The profile page's values and their version. ``bot``: the default bot when given
    (e.g. locked by the caller), else read."""
    owner_check(user)
    bot = bot or bot_default_get()
    tenant = tenant_row()
    profile = BusinessProfile(
        name=tenant.name,
        timezone=tenant.timezone or "UTC",
        hours=bot_hours_get(user=user, bot=bot),
        other_bots=list(Bot.objects.exclude(pk=bot.pk).order_by("name", "id")),
    )
    profile.version = fingerprint(profile.name, profile.timezone, profile.hours.version)
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
    """What a bot's settings page shows besides the bot: its working hours, numbers (with who
    serves each), schedules and the audit trail."""
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
        "hours": bot_hours_get(user=user, bot=bot),
        "numbers": numbers,
        "schedules": list(BotSchedule.objects.filter(bot=bot).select_related("created_by")[:20]),
        "audit": list(BotAuditLog.objects.filter(bot=bot)[:30]),
        "version": bot_version(bot),
    }
