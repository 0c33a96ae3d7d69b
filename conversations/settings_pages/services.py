"""Writes of the settings pages (call inside the tenant's schema). Owners only.

Every save takes the ``version`` the form was opened with and refuses (``Conflict``, nothing
written) when the values changed since — checked under a row lock, so of two owners saving
the same form at once exactly one wins and the other is told.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time

from django.db import connection, transaction

from bizmitra.config_cache import config_changed
from bizmitra.errors import Conflict, NotFound, ValidationFailed
from conversations.ai.services import ai_settings_update
from conversations.engine.bots import (
    bot_audit_record,
    bot_create,
    bot_default_get,
    bot_disable,
    bot_enable,
    bot_phone_number_assign,
    bot_phone_number_release,
    bot_schedule_create,
    bot_update,
)
from conversations.models import AIAssistantSettings, Bot, BotAuditLog, WorkingHours
from conversations.settings_pages.selectors import (
    BotHours,
    BusinessProfile,
    ai_settings_version,
    bot_hours_get,
    bot_version,
    business_profile_get,
    owner_check,
    tenant_row,
)
from tenants.models import Tenant
from tenants.selectors import tenant_timezone
from tenants.services import tenant_profile_update

STALE_MESSAGE = "Changed by someone else since you opened it — review and save again."
AWAY_MESSAGE_MAX = 4096

_INTERVAL = re.compile(r"^\s*(\d{1,2})(?::?(\d{2}))?\s*[-–—]\s*(\d{1,2})(?::?(\d{2}))?\s*$")


def stale_conflict() -> Conflict:
    return Conflict(STALE_MESSAGE, fields={"version": [STALE_MESSAGE]})


def hours_parse(text: str) -> list[tuple[time, time]]:
    """``"09:00-13:00, 14:00-18:00"`` → intervals; empty: closed that day. ``ValueError`` with
    a sentence for the owner when a part is not an interval of that day. 24:00 (or 00:00) as
    the closing time is midnight; hours past midnight are two ranges, one on each day (the
    engine joins them), because a range closing before it opens is most often a typo."""
    intervals = []
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        match = _INTERVAL.match(part)
        if not match:
            raise ValueError(f"'{part}' is not a time range such as 09:00–18:00.")
        h1, m1, h2, m2 = (int(g) if g else 0 for g in match.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            raise ValueError(f"'{part}' is not a time of day (00:00 to 23:59).")
        opens, closes = time(h1, m1), time(0, 0) if h2 == 24 else time(h2, m2)
        if closes != time(0) and closes <= opens:
            raise ValueError(
                f"'{part}' closes {'before' if closes < opens else 'when'} it opens. Past midnight, "
                "end this day at 24:00 and start the next day at 00:00."
            )
        intervals.append((opens, closes))
    return intervals


@dataclass(frozen=True)
class HoursChange:
    """A checked working hours form: what ``_bot_hours_write`` stores."""

    hours_enabled: bool
    away_message: str
    intervals: dict[int, list[tuple[time, time]]]


def _bot_hours_clean(
    *, hours_enabled: bool, away_message: str, hours: dict[int, str]
) -> tuple[HoursChange, dict[str, list[str]]]:
    """The form's values checked: the change, and a message for each bad field
    (``hours_<weekday>``, ``away_message``); one home for both pages that edit hours."""
    fields: dict[str, list[str]] = {}
    intervals: dict[int, list[tuple[time, time]]] = {}
    for weekday, text in hours.items():
        try:
            intervals[weekday] = hours_parse(text)
        except ValueError as exc:
            fields[f"hours_{weekday}"] = [str(exc)]
    away_message = (away_message or "").strip()
    if len(away_message) > AWAY_MESSAGE_MAX:
        fields["away_message"] = [f"At most {AWAY_MESSAGE_MAX} characters (WhatsApp's limit)."]
    elif hours_enabled and not away_message:
        fields["away_message"] = ["Customers who write outside your hours get this message: write one."]
    if hours_enabled and not any(intervals.values()) and not any(k.startswith("hours_") for k in fields):
        fields["hours_0"] = ["Give the hours of at least one day, or switch working hours off."]
    return HoursChange(bool(hours_enabled), away_message, intervals), fields


def _bot_hours_write(*, bot: Bot, change: HoursChange, by) -> None:
    """Store a checked change on ``bot`` (locked by the caller) and tell every process: the
    engine's bot snapshots are rebuilt before its next decision."""
    bot.away_message = change.away_message or bot.away_message
    bot.working_hours_enabled = change.hours_enabled
    bot.save(update_fields=["away_message", "working_hours_enabled", "updated_at"])
    WorkingHours.objects.filter(bot=bot).delete()
    WorkingHours.objects.bulk_create(
        WorkingHours(bot=bot, weekday=weekday, opens_at=opens, closes_at=closes)
        for weekday, intervals in sorted(change.intervals.items())
        for opens, closes in intervals
    )
    bot_audit_record(bot=bot, action=BotAuditLog.Action.UPDATED, by=by, detail="working hours and away message")
    # bulk_create sends no post_save, so the model signals alone would not cover the new rows.
    config_changed()


@transaction.atomic
def bot_hours_save(
    *, user, bot_id: int, version: str, hours_enabled: bool, away_message: str, hours: dict[int, str]
) -> BotHours:
    """Save one bot's working hours form (its settings page): the switch, the weekly ranges
    (``hours``: weekday → text) and the away message. Raises ``Conflict`` for a stale
    ``version`` and ``ValidationFailed`` naming each bad field; nothing is written then."""
    owner_check(user)
    bot = Bot.objects.select_for_update().filter(pk=bot_id).first()
    if bot is None:
        raise NotFound("This bot no longer exists.")
    if bot_hours_get(user=user, bot=bot).version != version:
        raise stale_conflict()
    change, fields = _bot_hours_clean(hours_enabled=hours_enabled, away_message=away_message, hours=hours)
    if fields:
        raise ValidationFailed("Some fields need a fix.", fields=fields)
    _bot_hours_write(bot=bot, change=change, by=user)
    return bot_hours_get(user=user, bot=bot)


@transaction.atomic
def business_profile_save(
    *,
    user,
    version: str,
    name: str,
    timezone_name: str,
    away_message: str,
    hours_enabled: bool,
    hours: dict[int, str],
) -> BusinessProfile:
    """Save the business profile: the tenant's name and time zone (``tenant_profile_update``)
    and the default bot's weekly hours and away message. Raises ``Conflict`` for a stale
    ``version`` and ``ValidationFailed`` naming each bad field (``hours_<weekday>``)."""
    owner_check(user)
    bot = Bot.objects.select_for_update().get(pk=bot_default_get().pk)
    if business_profile_get(user=user, bot=bot).version != version:
        raise stale_conflict()
    change, fields = _bot_hours_clean(hours_enabled=hours_enabled, away_message=away_message, hours=hours)
    try:
        # The request's own tenant object when it is a real row, so the rest of this request
        # (the page rendered next) sees the new name and zone.
        current = getattr(connection, "tenant", None)
        tenant = current if isinstance(current, Tenant) and current.pk else tenant_row()
        before = (tenant.name, tenant.timezone)
        tenant_profile_update(tenant=tenant, name=name, timezone_name=timezone_name)
    except ValidationFailed as exc:
        fields = {**exc.fields, **fields}
    if fields:
        tenant.name, tenant.timezone = before  # the row is rolled back with this transaction
        raise ValidationFailed("Some fields need a fix.", fields=fields)
    _bot_hours_write(bot=bot, change=change, by=user)
    return business_profile_get(user=user, bot=bot)


def _count(fields: dict, name: str, raw: str, label: str) -> int | None:
    try:
        value = int(str(raw).strip().replace(",", "").replace("_", ""))
    except ValueError:
        fields[name] = [f"{label} is a whole number, e.g. 200000."]
        return None
    if value < 0:
        fields[name] = [f"{label} cannot be negative (0 turns AI answers off)."]
        return None
    if value > 2_000_000_000:
        fields[name] = [f"{label} is at most 2,000,000,000."]
        return None
    return value


@transaction.atomic
def ai_settings_save(
    *,
    user,
    version: str,
    enabled: bool,
    model: str,
    base_url: str,
    api_key: str,
    clear_api_key: bool,
    system_prompt: str,
    daily_token_budget: str,
    per_contact_hourly_cap: str,
):
    """Save the AI settings form through ``ai_settings_update``. ``api_key`` is write-only:
    blank keeps the stored key (``clear_api_key`` removes it). Raises ``Conflict`` for a
    stale ``version`` and ``ValidationFailed`` naming each bad field."""
    owner_check(user)
    # Created here (and locked) on the first save, so a second first save waits and then
    # finds a saved row: its version no longer matches and it is refused.
    config, created = AIAssistantSettings.objects.select_for_update().get_or_create(pk=AIAssistantSettings.SINGLETON_PK)
    if version != ai_settings_version(AIAssistantSettings() if created else config):
        raise stale_conflict()
    fields: dict[str, list[str]] = {}
    changes = {
        "enabled": bool(enabled),
        "model": (model or "").strip(),
        "base_url": (base_url or "").strip(),
        "system_prompt": (system_prompt or "").strip(),
        "daily_token_budget": _count(fields, "daily_token_budget", daily_token_budget, "The daily budget"),
        "per_contact_hourly_cap": _count(fields, "per_contact_hourly_cap", per_contact_hourly_cap, "The hourly cap"),
    }
    if len(changes["model"]) > 100:
        fields["model"] = ["At most 100 characters."]
    api_key = (api_key or "").strip()
    if api_key:
        changes["api_key"] = api_key
    elif clear_api_key:
        changes["api_key"] = ""
    if fields:
        raise ValidationFailed("Some fields need a fix.", fields=fields)
    return ai_settings_update(**changes)


@transaction.atomic
def bot_settings_save(*, user, bot_id: int, version: str, **changes) -> Bot:
    """Save a bot's form (name, prompt, switches, enabled) through the engine's bot services;
    ``Conflict`` when the bot changed since the form was opened."""
    owner_check(user)
    bot = Bot.objects.select_for_update().filter(pk=bot_id).first()
    if bot is None:
        raise NotFound("This bot no longer exists.")
    if bot_version(bot) != version:
        raise stale_conflict()
    enabled = changes.pop("is_enabled", None)
    bot = bot_update(bot=bot, by=user, **changes)
    if enabled is not None and enabled != bot.is_enabled:
        (bot_enable if enabled else bot_disable)(bot=bot, by=user, detail="from the settings page")
        bot.refresh_from_db()
    return bot


@transaction.atomic
def bot_numbers_set(*, user, bot_id: int, phone_number_ids: list[str]) -> None:
    """Make ``bot`` serve exactly these numbers of the business (others go back to the default bot)."""
    owner_check(user)
    bot = Bot.objects.select_for_update().filter(pk=bot_id).first()
    if bot is None:
        raise NotFound("This bot no longer exists.")
    wanted = {p.strip() for p in phone_number_ids if p.strip()}
    current = set(bot.phone_numbers.values_list("phone_number_id", flat=True))
    for number in sorted(wanted - current):
        bot_phone_number_assign(bot=bot, phone_number_id=number, by=user)
    for number in sorted(current - wanted):
        bot_phone_number_release(bot=bot, phone_number_id=number, by=user)


def bot_schedule_add(*, user, bot_id: int, enable_at: str, disable_at: str, note: str):
    """A schedule from the form's local times (``YYYY-MM-DDTHH:MM`` in the business's zone)."""
    owner_check(user)
    bot = Bot.objects.filter(pk=bot_id).first()
    if bot is None:
        raise NotFound("This bot no longer exists.")
    zone = tenant_timezone()
    times, fields = {}, {}
    for name, raw in (("enable_at", enable_at), ("disable_at", disable_at)):
        raw = (raw or "").strip()
        if not raw:
            times[name] = None
            continue
        try:
            times[name] = datetime.fromisoformat(raw).replace(tzinfo=zone)
        except ValueError:
            fields[name] = ["Give a date and time, e.g. 2026-12-24 18:00."]
    if fields:
        raise ValidationFailed("Invalid schedule.", fields=fields)
    return bot_schedule_create(bot=bot, by=user, note=note or "", **times)


@transaction.atomic
def bot_add(*, user, name: str) -> Bot:
    owner_check(user)
    return bot_create(name=name, by=user)
