"""Working hours: is a bot open at a moment, and since when has it been closed?

A schedule is a list of weekly intervals (weekday, opens_at, closes_at) in a time zone;
``closes_at`` at or before ``opens_at`` runs past midnight, equal times mean the whole day.
All comparisons are made in UTC, so a daylight-saving change inside an interval moves the
wall clock, not the rule ("open 09:00–18:00 local" stays local on both sides of the change).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import connection

from tenants.selectors import tenant_timezone

logger = logging.getLogger(__name__)

# Every weekday occurs within the look-back, so a non-empty schedule always has an interval
# that ended before now; this stable start is only a guard (one away message, not one per message).
NEVER_OPEN = datetime(2000, 1, 1, tzinfo=UTC)
# How far back a closed window's start is looked for: a week covers every weekly schedule.
_LOOKBACK_DAYS = 8


@dataclass(frozen=True)
class Interval:
    weekday: int  # Monday 0 … Sunday 6
    opens_at: time
    closes_at: time


def intervals_on(day: date, schedule: Iterable[Interval], tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """The open intervals that start on ``day`` (local), as UTC datetimes."""
    spans = []
    for interval in schedule:
        if interval.weekday != day.weekday():
            continue
        start = datetime.combine(day, interval.opens_at, tzinfo=tz)
        end_day = day if interval.closes_at > interval.opens_at else day + timedelta(days=1)
        end = datetime.combine(end_day, interval.closes_at, tzinfo=tz)
        spans.append((start.astimezone(UTC), end.astimezone(UTC)))
    return spans


def closed_since(*, schedule: Iterable[Interval], tz: ZoneInfo, at: datetime) -> datetime | None:
    """None when the schedule is open at ``at``; else when the current closed window began.

    The start is the end of the last open interval before ``at``, the same for every moment
    of one closed window. An empty schedule is always open: working hours without any
    interval are not configured yet.
    """
    schedule = list(schedule)
    if not schedule:
        return None
    at = at.astimezone(UTC)
    local_day = at.astimezone(tz).date()
    spans: list[tuple[datetime, datetime]] = []
    for offset in range(-_LOOKBACK_DAYS, 2):
        spans += intervals_on(local_day + timedelta(days=offset), schedule, tz)
    if any(start <= at < end for start, end in spans):
        return None
    ended = [end for _, end in spans if end <= at]
    return max(ended) if ended else NEVER_OPEN


def zone_for(name: str) -> ZoneInfo:
    """The time zone called ``name``, else the business's (``Tenant.timezone``), else UTC."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            logger.warning("unknown time zone %r in %s", name, connection.schema_name)
    return tenant_timezone()


def bot_closed_since(bot, *, at: datetime) -> datetime | None:
    """None when ``bot`` is open at ``at`` (or keeps no working hours); else the start of the
    closed window. Call inside the tenant's schema."""
    if not bot.working_hours_enabled:
        return None
    schedule = [Interval(h.weekday, h.opens_at, h.closes_at) for h in bot.working_hours.all()]
    return closed_since(schedule=schedule, tz=zone_for(bot.timezone), at=at)
