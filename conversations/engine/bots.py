"""Bots: which bot serves a phone number, switching bots on and off (now or on a schedule),
and the audit trail of every such change. Call everything inside the tenant's schema.

A tenant that never configured a bot still has one: ``bot_for_phone_number`` creates the
default bot (everything on) the first time a message needs it. A flow rule may be scoped to
one bot (``templates.FlowRule.bot_id``); rules without a bot, templates and built-in intents are
shared by every bot of the tenant. Per bot too: the switches, hours, away message, handoff
settings and AI prompt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from bizmitra.actors import SYSTEM_ACTOR, actor_split
from bizmitra.config_cache import TenantConfigCache, config_changed
from bizmitra.errors import ValidationFailed
from conversations.models import Bot, BotAuditLog, BotPhoneNumber, BotSchedule, HandoffSettings

logger = logging.getLogger(__name__)

DEFAULT_BOT_NAME = "Default bot"
SCHEDULE_ACTOR = "schedule"


@dataclass(frozen=True)
class BotBook:
    """A snapshot of a tenant's bots: which serves each number, with their working hours and
    handoff settings loaded. Shared by every decision of the process until the tenant's
    configuration changes (``bizmitra.config_cache``): read-only."""

    by_phone_number: dict[str, Bot]
    default: Bot | None


def _bot_book_build() -> BotBook:
    bots = {bot.pk: bot for bot in Bot.objects.prefetch_related("working_hours").select_related("handoff_settings")}
    for bot in bots.values():
        try:
            bot.handoff_settings  # noqa: B018  loaded above; a bot without settings caches the miss
        except HandoffSettings.DoesNotExist:
            pass
    links = BotPhoneNumber.objects.values_list("phone_number_id", "bot_id")
    return BotBook(
        by_phone_number={number: bots[bot_id] for number, bot_id in links if bot_id in bots},
        default=next((bot for bot in bots.values() if bot.is_default), None),
    )


_bot_books = TenantConfigCache(_bot_book_build)


def bot_for_phone_number(phone_number_id: str) -> Bot:
    """The bot serving ``phone_number_id``: its ``BotPhoneNumber``, else the default bot,
    created (everything on) when the tenant has none yet. Read from the tenant's
    ``BotBook`` (no query while its bots are unchanged): do not modify the bot returned."""
    book = _bot_books.get()
    bot = book.by_phone_number.get(phone_number_id) or book.default
    return bot if bot is not None else _default_bot_create()


def bot_default_get() -> Bot:
    """The tenant's default bot from the database (created, everything on, when missing);
    unlike ``bot_for_phone_number`` a fresh row the caller may change through the services."""
    return Bot.objects.filter(is_default=True).first() or _default_bot_create()


def _default_bot_create() -> Bot:
    try:
        with transaction.atomic():
            bot = Bot.objects.create(name=DEFAULT_BOT_NAME, is_default=True)
            bot_audit_record(bot=bot, action=BotAuditLog.Action.CREATED, by=SYSTEM_ACTOR, detail="created on first use")
            return bot
    except IntegrityError:
        # A parallel message created it first (one default bot: a partial unique constraint).
        return Bot.objects.get(is_default=True)


def bot_audit_record(*, bot: Bot, action: str, by=None, detail: str = "") -> BotAuditLog:
    actor, label = actor_split(by)
    return BotAuditLog.objects.create(
        bot=bot, bot_name=bot.name[:100], action=action, actor=actor, actor_label=label, detail=detail
    )


@transaction.atomic
def bot_enable(*, bot: Bot, by=None, detail: str = "") -> bool:
    """Switch a bot on; an audit row is written either way. Returns whether it changed."""
    return _switch(bot=bot, enabled=True, by=by, detail=detail)


@transaction.atomic
def bot_disable(*, bot: Bot, by=None, detail: str = "") -> bool:
    """Switch a bot off (it answers nothing); an audit row is written either way."""
    return _switch(bot=bot, enabled=False, by=by, detail=detail)


def _switch(*, bot: Bot, enabled: bool, by, detail: str) -> bool:
    changed = bool(
        Bot.objects.filter(pk=bot.pk, is_enabled=not enabled).update(is_enabled=enabled, updated_at=timezone.now())
    )
    if changed:
        config_changed()  # QuerySet.update sends no post_save: the engine's snapshot must follow
    bot.is_enabled = enabled
    note = (
        detail if changed else "; ".join(filter(None, [detail, f"was already {'enabled' if enabled else 'disabled'}"]))
    )
    action = BotAuditLog.Action.ENABLED if enabled else BotAuditLog.Action.DISABLED
    bot_audit_record(bot=bot, action=action, by=by, detail=note)
    return changed


@transaction.atomic
def bot_schedule_create(
    *, bot: Bot, enable_at: datetime | None = None, disable_at: datetime | None = None, by=None, note: str = ""
) -> BotSchedule:
    """Schedule a bot to be enabled and/or disabled; the periodic task applies it when due."""
    if enable_at is None and disable_at is None:
        raise ValidationFailed(
            "A schedule needs a time.", fields={"enable_at": ["Give enable_at, disable_at or both."]}
        )
    if enable_at is not None and disable_at is not None and enable_at == disable_at:
        raise ValidationFailed("Enable and disable at the same moment.", fields={"disable_at": ["Equals enable_at."]})
    for name, value in (("enable_at", enable_at), ("disable_at", disable_at)):
        if value is not None and timezone.is_naive(value):
            raise ValidationFailed("Times need a time zone.", fields={name: ["Give an offset, e.g. +05:30 or Z."]})
    actor, _ = actor_split(by)
    schedule = BotSchedule.objects.create(
        bot=bot, enable_at=enable_at, disable_at=disable_at, note=note[:255], created_by=actor
    )
    bot_audit_record(bot=bot, action=BotAuditLog.Action.SCHEDULED, by=by, detail=str(schedule))
    return schedule


def bot_schedules_apply(*, now: datetime | None = None) -> int:
    """Apply every due schedule action of this tenant, oldest first; returns how many.

    Each action is claimed with a conditional UPDATE of its ``*_applied_at``, so two runs at
    once apply (and audit) it once. A bot whose enable and disable are both overdue ends in
    the state of the later one.
    """
    now = now or timezone.now()
    due: list[tuple[datetime, int, str]] = []
    for schedule in BotSchedule.objects.filter(enable_at__lte=now, enable_applied_at__isnull=True):
        due.append((schedule.enable_at, schedule.pk, "enable"))
    for schedule in BotSchedule.objects.filter(disable_at__lte=now, disable_applied_at__isnull=True):
        due.append((schedule.disable_at, schedule.pk, "disable"))
    applied = 0
    for when, schedule_id, action in sorted(due):
        with transaction.atomic():
            claimed = BotSchedule.objects.filter(pk=schedule_id, **{f"{action}_applied_at__isnull": True}).update(
                **{f"{action}_applied_at": now}
            )
            if not claimed:
                continue
            schedule = BotSchedule.objects.select_related("bot").get(pk=schedule_id)
            detail = f"scheduled for {when.isoformat()}" + (f" ({schedule.note})" if schedule.note else "")
            switch = bot_enable if action == "enable" else bot_disable
            switch(bot=schedule.bot, by=SCHEDULE_ACTOR, detail=detail)
            applied += 1
    if applied:
        logger.info("%s: applied %d bot schedule action(s)", connection.schema_name, applied)
    return applied


@transaction.atomic
def bot_phone_number_assign(*, bot: Bot, phone_number_id: str, by=None) -> BotPhoneNumber:
    """Let ``bot`` serve one of the tenant's WhatsApp numbers (moving it from another bot)."""
    from tenants.models import PhoneNumber

    phone_number_id = phone_number_id.strip()
    if not PhoneNumber.objects.filter(
        phone_number_id=phone_number_id, tenant__schema_name=connection.schema_name
    ).exists():
        raise ValidationFailed(
            "Not a WhatsApp number of this business.", fields={"phone_number_id": ["Unknown number."]}
        )
    link, created = BotPhoneNumber.objects.select_for_update().get_or_create(
        phone_number_id=phone_number_id, defaults={"bot": bot}
    )
    if not created and link.bot_id != bot.pk:
        link.bot = bot
        link.save(update_fields=["bot"])
        created = True
    if created:
        bot_audit_record(bot=bot, action=BotAuditLog.Action.UPDATED, by=by, detail=f"serves {phone_number_id}")
    return link


BOT_EDITABLE_FIELDS = ("name", "system_prompt", "auto_response", "ai_enabled", "lead_capture")


@transaction.atomic
def bot_create(*, name: str, by=None) -> Bot:
    """A new (non-default) bot, everything on; audited."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed("Invalid bot name.", fields={"name": ["Give the bot a name of at most 100 characters."]})
    bot = Bot.objects.create(name=name)
    bot_audit_record(bot=bot, action=BotAuditLog.Action.CREATED, by=by)
    return bot


@transaction.atomic
def bot_update(*, bot: Bot, by=None, **changes) -> Bot:
    """Change a bot's name, prompt or switches (``BOT_EDITABLE_FIELDS``; enabling and
    disabling go through ``bot_enable``/``bot_disable``); audited with the fields changed."""
    unknown = sorted(set(changes) - set(BOT_EDITABLE_FIELDS))
    if unknown:
        raise ValidationFailed("Unknown bot settings.", fields={name: ["Not a bot setting."] for name in unknown})
    if "name" in changes:
        changes["name"] = (changes["name"] or "").strip()
        if not changes["name"] or len(changes["name"]) > 100:
            raise ValidationFailed(
                "Invalid bot name.", fields={"name": ["Give the bot a name of at most 100 characters."]}
            )
    changed = [name for name, value in changes.items() if getattr(bot, name) != value]
    for name in changed:
        setattr(bot, name, changes[name])
    if changed:
        bot.save(update_fields=[*changed, "updated_at"])
        bot_audit_record(bot=bot, action=BotAuditLog.Action.UPDATED, by=by, detail="changed " + ", ".join(changed))
    return bot


@transaction.atomic
def bot_phone_number_release(*, bot: Bot, phone_number_id: str, by=None) -> bool:
    """Stop ``bot`` serving a number (the default bot serves it again); audited when it did."""
    deleted, _ = BotPhoneNumber.objects.filter(bot=bot, phone_number_id=phone_number_id.strip()).delete()
    if deleted:
        bot_audit_record(
            bot=bot, action=BotAuditLog.Action.UPDATED, by=by, detail=f"no longer serves {phone_number_id}"
        )
    return bool(deleted)
