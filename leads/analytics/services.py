"""Writes of analytics: the per-day roll-ups (call inside the tenant's schema)."""

from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from leads.analytics.selectors import COUNTERS, MAX_DAYS, ROLL_UP_FORMAT, analytics_days_raw
from leads.models import AnalyticsDay
from tenants.selectors import tenant_timezone

# Statuses keep arriving for a day or two after a message is sent (delivered, read): the
# task computes these most recent closed days again on every run.
RECOMPUTE_DAYS = 3


@transaction.atomic
def analytics_days_roll_up(*, first: date, last: date) -> int:
    """Compute the tenant-local days ``first``..``last`` from raw rows and store them (upsert on
    day and time zone, so a re-run replaces, never adds). Refuses today and later: an open day
    is always read live. Returns how many days were written."""
    tz = tenant_timezone()
    today = timezone.now().astimezone(tz).date()
    last = min(last, today - timedelta(days=1))
    if last < first:
        return 0
    raw = analytics_days_raw(first=first, last=last, tz=tz)
    now = timezone.now()
    rows = [
        AnalyticsDay(
            day=day,
            timezone=tz.key,
            computed_at=now,
            paths=figures["paths"],
            started=figures["started"],
            times=figures["times"],
            hours=figures["hours"],
            ai=figures["ai"],
            format=ROLL_UP_FORMAT,
            failures=[{"code": code, "title": title, "count": n} for (code, title), n in figures["failures"].items()],
            **{key: figures[key] for key in COUNTERS},
        )
        for day, figures in raw.items()
    ]
    AnalyticsDay.objects.bulk_create(
        rows,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["day", "timezone"],
        update_fields=[*COUNTERS, "paths", "failures", "started", "times", "hours", "ai", "format", "computed_at"],
    )
    return len(rows)


def analytics_roll_up_due() -> int:
    """The periodic job: roll up every day of the last ``MAX_DAYS`` not yet kept in the tenant's
    current time zone, and the last ``RECOMPUTE_DAYS`` closed days again (late statuses)."""
    tz = tenant_timezone()
    yesterday = timezone.now().astimezone(tz).date() - timedelta(days=1)
    first = yesterday - timedelta(days=MAX_DAYS - 1)
    kept = set(
        AnalyticsDay.objects.filter(
            timezone=tz.key, format=ROLL_UP_FORMAT, day__gte=first, day__lte=yesterday
        ).values_list("day", flat=True)
    )
    recent = yesterday - timedelta(days=RECOMPUTE_DAYS - 1)
    missing = [first + timedelta(days=i) for i in range(MAX_DAYS) if first + timedelta(days=i) not in kept]
    start = min([*missing, recent])
    # One span from the oldest missing day: raw rows are read once, however many days.
    return analytics_days_roll_up(first=start, last=yesterday)
