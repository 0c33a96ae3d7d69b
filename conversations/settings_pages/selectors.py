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

from django.core.exceptions import PermissionDenied
from django.db import connection

from conversations.engine.bots import bot_default_get
from conversations.models import Bot, WorkingHours
from conversations.selectors import user_is_owner
from tenants.models import Tenant

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
